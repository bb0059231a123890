"""Hostile copies of a results dict, and checks that a rendered document keeps them inert.

Every string a renderer may show is wrapped in markup (``PAYLOAD``) around a unique marker, so a
renderer that lets one of them through unescaped produces an element or attribute a parser sees,
and every marker found in the output can be traced back to the field it came from.

Three copies are made of one results dict:

* ``"every-string"``: every string value is hostile, identifiers included (statuses, method
  names, categories...); the renderers then show what they cannot look up as plain text.
* ``"identifiers-kept"``: the strings the renderers look up by name (any string literal in their
  source, such as ``"success"``, ``"integrated_gradients"`` or the model name ``"baseline"``) are
  left as they are, so every section keeps its shape, and every other string, dictionary keys
  included, is hostile.
* ``"numbers-as-text"``: as ``"identifiers-kept"``, and every number is replaced by hostile text
  too (a results file may hold a string wherever a number is expected).

Model and label names (and, in the first copy, method names) are replaced consistently (the same
hostile name everywhere, as a key or a value, also as the prefix of check names such as
``"baseline: accuracy"``), so the renderers still tie checks to models, labels to classes and
attributions to methods. Examples with word offsets (the explanation heatmaps) are
rebuilt with hostile words *and* hostile gaps between the words, offsets kept exact.
"""

from __future__ import annotations

import ast
import copy
import functools
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterable

REPO = Path(__file__).resolve().parents[1]
FULL_RESULTS = REPO / "tests" / "data" / "full_results.json"
FULL_RESULTS_MULTI_LABEL = REPO / "tests" / "data" / "full_results_multilabel.json"

# Quotes first: a label cut to its first characters still breaks out of an attribute.
PAYLOAD = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>&<b>"
MARKER = re.compile("\u27e6\\d+\u27e7")
VARIANTS = ("every-string", "identifiers-kept", "numbers-as-text")
# checked before anything is rendered (a document of an unknown version is refused, not shown)
VERSION_FIELDS = {("schema_version",), ("comparison_version",)}

# Sources of everything that renders results: string literals there are the identifiers they look up.
RENDERER_SOURCES = ("reports", "audit/compare", "audit/gate.py", "audit/junit.py", "audit/summary_md.py",
                    "audit/thresholds.py", "modelcard")


@functools.lru_cache(maxsize=None)
def renderer_literals(root: Path = REPO) -> frozenset[str]:
    """Every string constant in the renderers' source (docstrings left out)."""
    out: set[str] = set()
    for entry in RENDERER_SOURCES:
        path = root / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            tree = ast.parse(file.read_text(encoding="utf-8"))
            docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                          if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                          and node.body and isinstance(node.body[0], ast.Expr)
                          and isinstance(node.body[0].value, ast.Constant)}
            out.update(n.value for n in ast.walk(tree)
                       if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings)
    return frozenset(out)


class HostileCopy:
    """A hostile copy of ``results`` (see the module docstring); ``where`` maps each marker to the
    path of the field it was planted in (a tuple of keys and list indices)."""

    def __init__(self, results: dict[str, Any], variant: str, literals: frozenset[str] | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        if variant == "every-string":
            self.keep: frozenset[str] = frozenset()
        else:
            self.keep = literals if literals is not None else renderer_literals()
        self.where: dict[str, tuple[Any, ...]] = {}
        self.names: dict[str, str] = {}
        self.models: dict[str, str] = {}  # every model name, hostile or kept, as it appears in the copy
        for name in _model_names(results):
            self.models[name] = name if name in self.keep else self.wrap(name, ("model name", name))
            if name not in self.keep:
                self.names[name] = self.models[name]
        for label in _label_names(results):
            if label not in self.keep:
                self.names.setdefault(label, self.wrap(label, ("label name", label)))
        if variant == "every-string":  # method names tie lists, dictionary keys and flags together
            for method in _method_names(results):
                self.names.setdefault(method, self.wrap(method, ("method name", method)))
        self.results = self._value(copy.deepcopy(results), ())

    def wrap(self, text: str, path: tuple[Any, ...]) -> str:
        marker = f"\u27e6{len(self.where)}\u27e7"
        self.where[marker] = path
        return f"{PAYLOAD}{marker}{text}{PAYLOAD}{marker}"

    def markers(self, *parts: Any) -> set[str]:
        """Markers planted at paths that contain every one of ``parts`` (in order)."""
        return {m for m, path in self.where.items() if _contains(path, parts)}

    def string(self, s: str, path: tuple[Any, ...]) -> str:
        if s in self.names:
            return self.names[s]
        for name in sorted(self.models, key=len, reverse=True):  # "baseline: accuracy", "baseline.explain"
            for sep in (": ", "."):
                if s.startswith(name + sep):
                    return self.models[name] + sep + self.string(s[len(name) + len(sep):], path)
        return s if s in self.keep else self.wrap(s, path)

    def _value(self, value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, str):
            return self.string(value, path)
        if (self.variant == "numbers-as-text" and isinstance(value, (int, float)) and not isinstance(value, bool)
                and path not in VERSION_FIELDS):
            return self.wrap(repr(value), path + ("<number>",))
        if isinstance(value, list):
            return [self._value(v, path + (i,)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            if _has_word_offsets(value):
                value = self._spaced_example(value, path)
            out = {}
            for k, v in value.items():
                key = self._key(k, path)
                out[key] = v if k in ("text", "words") and _has_word_offsets(value) else self._value(v, path + (k,))
            return out
        return value

    def _key(self, key: Any, path: tuple[Any, ...]) -> Any:
        if not isinstance(key, str):
            return key
        if key in self.names:
            return self.names[key]
        if self.variant == "every-string" and path != ("models",):
            return key  # keys stay: this copy is about values
        return self.string(key, path + ("<key>",))

    def _spaced_example(self, ex: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
        """The example with hostile words and hostile gaps before, between and after them."""
        text, words = ex["text"], ex["words"]
        new_text, new_words, moved = "", [], {}
        pos = 0
        for i, w in enumerate(words + [None]):
            start = len(text) if w is None else w["start"]
            gap = text[pos:start]
            for j in range(len(gap)):
                moved[pos + j] = len(new_text) + j
            new_text += gap + self.wrap(" ", path + ("text", "gap", i))
            if w is None:
                break
            word = self.wrap(text[w["start"]:w["end"]], path + ("text", "word", i))
            inner = len(PAYLOAD) + len(f"\u27e6{len(self.where) - 1}\u27e7")
            for j in range(w["start"], w["end"]):
                moved[j] = len(new_text) + inner + (j - w["start"])
            new_words.append({**w, "text": word, "start": len(new_text), "end": len(new_text) + len(word)})
            new_text += word
            pos = w["end"]
        out = {**ex, "text": new_text, "words": new_words}
        cut = ex.get("truncated_at")
        if isinstance(cut, int) and not isinstance(cut, bool) and 0 <= cut < len(text):
            out["truncated_at"] = moved.get(cut, len(new_text))
        return out


def _has_word_offsets(d: dict[str, Any]) -> bool:
    words = d.get("words")
    if not isinstance(d.get("text"), str) or not isinstance(words, list) or not words:
        return False
    pos = 0
    for w in words:
        if not (isinstance(w, dict) and isinstance(w.get("start"), int) and isinstance(w.get("end"), int)):
            return False
        if not pos <= w["start"] <= w["end"] <= len(d["text"]):
            return False
        pos = w["end"]
    return True


def _contains(path: tuple[Any, ...], parts: tuple[Any, ...]) -> bool:
    i = 0
    for p in path:
        if i < len(parts) and (parts[i] == "*" or p == parts[i]):
            i += 1
    return i == len(parts)


def _model_names(results: dict[str, Any]) -> list[str]:
    models = results.get("models")
    return [m for m in models if isinstance(m, str)] if isinstance(models, dict) else []


def _label_names(results: dict[str, Any]) -> list[str]:
    return _listed(results, "label_names")


def _method_names(results: dict[str, Any]) -> list[str]:
    return _listed(results, "methods")


def _listed(results: dict[str, Any], key: str) -> list[str]:
    """Every string listed under ``key`` anywhere in the results."""
    found: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == key and isinstance(v, list):
                    found.extend(s for s in v if isinstance(s, str))
                else:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(results)
    return list(dict.fromkeys(found))


def edge_cases(results: dict[str, Any]) -> dict[str, Any]:
    """A copy of a single-label results dict (two models) that also takes the report's rarer
    branches, each as the pipeline can write it: a text cut by truncation, an example no method
    explained, a flagged integrated-gradients row with a word without a finite score and more
    tokens than the table lists, a most-faithful method that failed the sanity check, skipped
    privacy-audit parts with their reasons, notes of the DP check, personal data found in several
    columns, more trained parameter tensors than are listed, models trained on different data,
    adversarial examples with flagged edits, a metric, a personal-data type and a membership
    attack the renderers have no title for, and a private model with a name of its own."""
    r = copy.deepcopy(results)
    first, second = list(r["models"])[:2]
    a, b = r["models"][first], r["models"][second]
    examples = a["explanations"]["examples"]
    cut = examples[0]
    cut["truncated_at"] = cut["words"][len(cut["words"]) // 2]["start"]
    examples[1]["attributions"] = {}
    ig = examples[2]["attributions"]["integrated_gradients"]
    ig.update(flagged=True, relative_error=0.5)
    ig["word_scores"][0] = None
    for attr in examples[2]["attributions"].values():
        attr["tokens"] = attr["tokens"] * 200
        attr["token_scores"] = attr["token_scores"] * 200
    faith = a["faithfulness"]
    faith["sanity"]["flagged"] = list(faith["methods"][:-1])  # only the last method passes
    audit = b["privacy_audit"]
    for part in ("membership_inference", "canaries", "epsilon_lower_bound"):
        audit[part] = {"skipped": True, "reason": f"{part.replace('_', ' ')} needs data this run did not have"}
    audit["dp_bound_check"]["notes"] = ["the ledger's accountant differs from the one that checked it"]
    pii = r["data"]["personal_data"]
    pii["columns"] = [{"column": name, "n_findings": 3, "n_rows_affected": 2, "share_rows_affected": 0.1,
                       "counts": dict(list(pii["counts"].items())[:2])} for name in ("review", "comment")]
    ledger = b["privacy_ledger"]
    ledger["trainable_parameter_names"] = [f"{n}.{i}" for i in range(10) for n in ledger["trainable_parameter_names"]]
    a["training"]["data_sha256"] = "0" * 64  # the two models were trained on different data
    for family in ("char_attack", "word_attack"):
        for e in b["robustness"][family]["examples"]:
            e["flags"] = ["antonym", "changes the named entity"]
    # open-ended names the renderers show as they find them: a metric, a personal-data type, an attack
    for epoch in a["training"]["epochs"]:
        epoch["eval"]["matthews_corrcoef"] = 0.1
    for table in (pii["counts"], pii["rows_by_type"], pii["columns"][0]["counts"]):
        table["LICENCE_PLATE"] = 1
    attacks = a["privacy_audit"]["membership_inference"]["attacks"]
    strongest = copy.deepcopy(next(iter(attacks.values())))  # the strongest attack speaks for the model
    strongest["auc"]["value"] = min(1.0, max(x["auc"]["value"] for x in attacks.values()) + 0.05)
    attacks["min_k_probability"] = {**strongest, "title": "Minimum-k% probability"}
    for canary in a["privacy_audit"]["canaries"]["canaries"]:
        canary["scores"]["min_k_probability"] = next(iter(canary["scores"].values()))
    # a private model not named "private", compared with the model named "baseline"
    return _renamed(r, second, "dp-model")


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with the model name ``old`` replaced by ``new`` wherever it names the model."""
    if isinstance(value, str):
        if value == old:
            return new
        for sep in (": ", "."):
            if value.startswith(old + sep):
                return new + value[len(old):]
        return value
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    if isinstance(value, dict):
        return {_renamed(k, old, new): _renamed(v, old, new) for k, v in value.items()}
    return value


def edge_comparison_sources(results: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two results files that the comparison must flag: evaluated on different data, a model in
    the second file that the first does not have (left unpaired, with a note), and checks that
    got better."""
    other = copy.deepcopy(results)
    other["data"]["eval_sha256"] = other["data"]["sha256"] = "f" * 64
    name = next(iter(other["models"]))
    other["models"][f"{name} retrained"] = copy.deepcopy(other["models"][name])
    for check in other["checks"]:
        if check.get("status") in ("fail", "warn"):
            check["status"] = "pass"
    return results, other


# --------------------------------------------------------------------------- checking output

_ATTR_NAME = re.compile(r"[a-z][a-z0-9:_-]*")
PAYLOAD_TAGS = ("script", "img", "b")


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.bad_attributes: list[str] = []
        self.fragments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        for name, value in attrs:
            if not _ATTR_NAME.fullmatch(name) or name.startswith("on") or (tag, name) == ("img", "src"):
                self.bad_attributes.append(f"<{tag} {name}={value!r}>")
            if value:
                self.fragments.append(value)

    def handle_data(self, data: str) -> None:
        self.fragments.append(data)

    def handle_comment(self, data: str) -> None:
        self.fragments.append(f"<!--{data}-->")  # a marker in a comment is not shown as text


def scan(document: str) -> _Scan:
    parser = _Scan()
    parser.feed(document)
    parser.close()
    return parser


def inert_problems(document: str, own_tags: Counter[str] | None = None) -> list[str]:
    """What in an HTML document shows that hostile text got through as markup: payload elements
    (``script``, ``img``, ``b``) beyond the document's own (``own_tags``), event-handler or
    malformed attribute names, and markers that are not shown as text right after (the end of)
    the payload."""
    own_tags = own_tags or Counter()
    parsed = scan(document)
    problems = [f"{n - own_tags.get(tag, 0)} <{tag}> element(s) from results text"
                for tag in PAYLOAD_TAGS if (n := parsed.tags.get(tag, 0)) > own_tags.get(tag, 0)]
    problems += [f"attribute from results text: {a}" for a in parsed.bad_attributes[:5]]
    raw = Counter(MARKER.findall(document))
    shown: Counter[str] = Counter()
    for fragment in parsed.fragments:
        for m in MARKER.finditer(fragment):
            # the payload's characters, as text, up to the marker (a diff may split it between
            # spans, a name may be shown in capitals)
            if PAYLOAD.lower().endswith(fragment[max(0, m.start() - len(PAYLOAD)):m.start()].lower()):
                shown[m.group()] += 1
    unescaped = sorted(m for m, n in raw.items() if shown[m] < n)
    if unescaped:
        problems.append(f"{len(unescaped)} marker(s) not shown as escaped text, e.g. {unescaped[:5]}")
    return problems


def markers_in(document: str) -> set[str]:
    return set(MARKER.findall(document))


def sections(document: str) -> dict[str, str]:
    """The report's ``<section id=...>`` blocks by id (top-level sections only)."""
    out: dict[str, str] = {}
    starts = [(m.start(), m.group(1)) for m in re.finditer(r'<section id="([^"]+)"', document)]
    for (start, key), (end, _) in zip(starts, starts[1:] + [(len(document), "")]):
        out[key] = document[start:end]
    return out


def strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
