"""Build a Hugging Face model card from a results dict: front matter with ``model-index``
evaluation results (``huggingface_hub``'s card classes), then the card's sections in markdown.

Every value read from the results is untrusted: it goes through :func:`md` (or :func:`code` for
hashes) before it reaches the markdown. Fields only the owner can supply come from
:class:`CardInfo` and are marked missing when absent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from reports._format import as_dict, as_finite, as_int, as_list, as_text, fmt_num, fmt_pct
from reports._view_privacy import ACCOUNTANT_TITLES, _fmt_delta, _ledger
from reports.regulatory import ASSESSED, regulatory_map

from ._info import CardInfo, missing
from ._markdown import bullets, code, md, table
from ._metrics import metric_table

TASK = "text-classification"
NOT_ASSESSED = "Not assessed: this part of the audit did not run for this model."


def select_model(results: Mapping[str, Any], model: str | None) -> str:
    """The model the card describes: ``model``, or the only model in the results."""
    names = list(as_dict(results.get("models")))
    if not names:
        raise ValueError("the results hold no model to describe")
    if model is None:
        if len(names) > 1:
            raise ValueError(f"the results hold several models ({', '.join(names)}); choose one with --model")
        return names[0]
    if model not in names:
        raise ValueError(f"no model {model!r} in the results; models: {', '.join(names)}")
    return model


def _checks(results: Mapping[str, Any], model: str, section: str) -> list[dict[str, Any]]:
    m = regulatory_map(results, model)
    for h in m["headings"]:
        for e in h["evidence"]:
            if e["section"] == section:
                return e["checks"]
    return []


def _check_lines(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return ""
    lines = [f"**{md(c['status'].upper() or 'UNKNOWN')}** {md(c['name'])}: {md(c['message'])}" for c in checks]
    return "Checks:\n\n" + bullets(lines)


# ------------------------------------------------------------------------------------------------
# Front matter
# ------------------------------------------------------------------------------------------------


def card_data(results: Mapping[str, Any], model: str, info: CardInfo) -> Any:
    """``ModelCardData`` with the held-out metrics as ``model-index`` evaluation results."""
    from huggingface_hub import EvalResult, ModelCardData

    entry = as_dict(as_dict(results.get("models")).get(model))
    perf = as_dict(entry.get("performance"))
    split = as_text(perf.get("split")) or None
    evals = [
        EvalResult(task_type=TASK, task_name="Text classification",
                   dataset_type=info.dataset_id or missing("dataset id on the Hub"),
                   dataset_name=info.dataset_name or missing("dataset name"), dataset_split=split,
                   metric_type=kind, metric_name=name, metric_config=config, metric_value=value)
        for _, kind, name, config, value in metric_table(perf)
    ]
    private = bool(as_dict(entry.get("privacy_ledger")))
    tags = [TASK, "textaudit"] + (["differential-privacy"] if private else [])
    return ModelCardData(
        model_name=info.model_name or model, license=info.license, language=list(info.language) or None,
        library_name="transformers", pipeline_tag=TASK, tags=tags, base_model=info.base_model,
        datasets=[info.dataset_id] if info.dataset_id else None,
        metrics=sorted({kind for _, kind, *_ in metric_table(perf)}) or None,
        eval_results=evals or None,
    )


# ------------------------------------------------------------------------------------------------
# Sections
# ------------------------------------------------------------------------------------------------


def _owner_field(value: str | tuple[str, ...] | None, what: str) -> str:
    if isinstance(value, tuple):
        return ", ".join(md(v) for v in value) if value else md(missing(what))
    return md(value) if value else md(missing(what))


def _details(results: Mapping[str, Any], model: str, info: CardInfo) -> str:
    entry = as_dict(as_dict(results.get("models")).get(model))
    ident = as_dict(entry.get("identity"))
    run = as_dict(results.get("run"))
    labels = [as_text(x) for x in as_list(ident.get("label_names"))]
    rows = [
        ("Name in the audit", md(model)),
        ("Source", md(as_text(ident.get("source"))) if ident.get("source") else ""),
        ("Architecture", md(as_text(ident.get("architecture"))) if ident.get("architecture") else ""),
        ("Model type", md(as_text(ident.get("model_type"))) if ident.get("model_type") else ""),
        ("Parameters", fmt_num(as_int(ident.get("n_parameters"))) if as_int(ident.get("n_parameters")) is not None else ""),
        ("Problem type", md(as_text(ident.get("problem_type"))) if ident.get("problem_type") else ""),
        ("Labels", ", ".join(md(x) for x in labels)),
        ("Weights SHA-256", code(ident.get("sha256")) if ident.get("sha256") else ""),
        ("Base model", md(info.base_model) if info.base_model else ""),
        ("Owners", _owner_field(info.owners, "owners")),
        ("Contact", _owner_field(info.contact, "contact")),
        ("Licence", _owner_field(info.license, "licence")),
        ("Language", _owner_field(info.language, "language of the texts")),
    ]
    out = ["## Model details", "", table(["Field", "Value"], [[k, v] for k, v in rows if v])]
    versions = as_dict(run.get("versions"))
    if versions:
        out += ["", "Library versions of the audit run: " + ", ".join(f"{md(k)} {md(as_text(v))}" for k, v in versions.items()) + "."]
    about = [f"command {md(as_text(run.get('command')))}" if run.get("command") else "",
             f"created {md(as_text(run.get('created')))}" if run.get("created") else "",
             f"seed {md(as_text(run.get('seed')))}" if run.get("seed") is not None else "",
             f"device {md(as_text(run.get('device')))}" if run.get("device") else ""]
    about = [a for a in about if a]
    if about:
        out += ["", "Audit run: " + ", ".join(about) + "."]
    return "\n".join(out)


def _intended_use(info: CardInfo) -> str:
    return "\n".join([
        "## Intended use", "",
        _owner_field(info.intended_use, "the intended use: the task, the users, the setting"), "",
        "### Out-of-scope use", "",
        _owner_field(info.out_of_scope_use, "uses the model is not suited for"),
    ])


def _privacy_words(led: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    """The privacy ledger in plain words."""
    eps, delta = as_finite(led.get("epsilon")), as_finite(led.get("delta"))
    accountant = as_text(led.get("accountant")).strip().lower()
    acc_title = ACCOUNTANT_TITLES.get(accountant, accountant or "unknown")
    view = _ledger("model", led, entry, 1)
    out: list[str] = []
    if eps is not None and delta is not None:
        sigma, clip = as_finite(led.get("noise_multiplier")), as_finite(led.get("max_grad_norm"))
        q, steps, n = as_finite(led.get("sample_rate")), as_int(led.get("steps")), as_int(led.get("dataset_size"))
        how = [f"noise multiplier {fmt_num(sigma, 4)}" if sigma is not None else "",
               f"per-example clipping norm {fmt_num(clip, 4)}" if clip is not None else "",
               f"sampling rate {fmt_num(q, 5)}" if q is not None else "",
               f"{fmt_num(steps)} steps" if steps is not None else "",
               f"{fmt_num(n)} training examples" if n is not None else ""]
        how_text = ", ".join(h for h in how if h)
        factor = math.exp(min(eps, 700.0))
        factor_text = f"{factor:,.0f}" if factor >= 100 else f"{factor:.2f}"
        if factor > 1e12:
            factor_text = "more than a trillion"
        out.append(
            f"Trained with differential privacy (DP-SGD): **epsilon {fmt_num(eps, 3)} at delta {md(_fmt_delta(delta))}**, "
            f"accountant {md(acc_title)}" + (f"; {md(how_text)}" if how_text else "") + ".")
        out.append(
            "What this means: whatever anyone computes from the released model is almost equally likely whether or not "
            f"any one training example was used; the probabilities differ by a factor of at most e^epsilon ≈ "
            f"{md(factor_text)}, except with probability delta. The protected unit is one example (one text with its "
            "label); the guarantee covers this training run only, not the pre-training data of the base model.")
        check = as_dict(led.get("independent_check"))
        pld = as_finite(check.get("pld"))
        if pld is not None:
            out.append(f"An independent accountant ({md(as_text(check.get('library')) or 'independent')}, PLD) "
                       f"computes epsilon {fmt_num(pld, 3)} for the same settings.")
        if eps > 1:
            out.append(f"At epsilon {fmt_num(eps, 2)} this worst-case bound alone rules out little: it allows a test of "
                       "membership far better than guessing. The leakage audit measures what attacks actually achieve.")
    else:
        out.append("A privacy ledger is present but records no finite epsilon and delta: the model carries no "
                   "differential-privacy guarantee.")
    out += [f"**Warning:** {md(w)}" for w in view["warnings"]]
    return out


def _training(entry: dict[str, Any]) -> str:
    training = as_dict(entry.get("training"))
    led = as_dict(entry.get("privacy_ledger"))
    out = ["## Training", ""]
    if training:
        config = as_dict(training.get("config"))
        facts = [
            f"training examples: {fmt_num(as_int(training.get('n_train')))}" if as_int(training.get("n_train")) is not None else "",
            f"held-out examples: {fmt_num(as_int(training.get('n_eval')))}" if as_int(training.get("n_eval")) is not None else "",
            f"training data SHA-256: {code(training.get('data_sha256'))}" if training.get("data_sha256") else "",
            f"seed: {md(as_text(training.get('seed')))}" if training.get("seed") is not None else "",
        ]
        facts += [f"{md(k.replace('_', ' '))}: {md(as_text(config.get(k)))}"
                  for k in ("epochs", "lr", "batch_size", "max_length", "optimizer", "trainable") if config.get(k) is not None]
        out.append(bullets([f for f in facts if f]))
    else:
        out.append("No training record in the results: the model was trained outside this audit. "
                   + md(missing("the training data and procedure")))
    out += ["", "### Privacy of the training data", ""]
    if led:
        out.append("\n\n".join(_privacy_words(led, entry)))
    else:
        out.append("Trained without differential privacy (no privacy ledger in the results): the model carries no "
                   "formal guarantee about what it reveals of its training examples.")
    return "\n".join(out)


def _evaluation(results: Mapping[str, Any], model: str, info: CardInfo) -> str:
    entry = as_dict(as_dict(results.get("models")).get(model))
    perf = as_dict(entry.get("performance"))
    data = as_dict(results.get("data"))
    out = ["## Evaluation", ""]
    if not perf:
        return "\n".join(out + [NOT_ASSESSED])
    facts = [
        f"dataset: {md(info.dataset_name) if info.dataset_name else md(missing('dataset name'))}",
        f"source recorded by the audit: {md(as_text(data.get('source')))}" if data.get("source") else "",
        f"split: {md(as_text(perf.get('split')))}" if perf.get("split") else "",
        f"examples: {fmt_num(as_int(perf.get('n')))}" if as_int(perf.get("n")) is not None else "",
        f"evaluation data SHA-256: {code(data.get('eval_sha256') or data.get('sha256'))}"
        if (data.get("eval_sha256") or data.get("sha256")) else "",
        f"rows skipped as invalid: {fmt_num(as_int(data.get('skipped_rows')))}" if as_int(data.get("skipped_rows")) else "",
    ]
    out += [bullets([f for f in facts if f]), ""]
    rows = [[md(name), fmt_num(value, 4)] for _, _, name, _, value in metric_table(perf)]
    if perf.get("problem_type") == "multi_label" and as_finite(perf.get("threshold")) is not None:
        out += [f"A label is predicted when its probability is at least {fmt_num(as_finite(perf.get('threshold')), 2)}.", ""]
    out += [table(["Metric", "Value"], rows), ""]
    per = [as_dict(c) for c in as_list(perf.get("per_class") or perf.get("per_label"))]
    if per:
        out += ["Per class:" if perf.get("per_class") else "Per label:", "",
                table(["Label", "Precision", "Recall", "F1", "Support"],
                      [[md(as_text(c.get("label"))), fmt_num(as_finite(c.get("precision"))), fmt_num(as_finite(c.get("recall"))),
                        fmt_num(as_finite(c.get("f1"))), fmt_num(as_int(c.get("support")))] for c in per]), ""]
    counts = as_dict(data.get("label_counts"))
    if counts:
        out += ["Label counts in the evaluation data: " + ", ".join(f"{md(k)} {fmt_num(as_int(v))}" for k, v in counts.items()) + ".", ""]
    checks = _checks(results, model, "performance") + _checks(results, model, "calibration") + _checks(results, model, "truncation")
    out.append(_check_lines(checks))
    return "\n".join(out).rstrip()


def _not_run(section: Any) -> str | None:
    if not section:
        return NOT_ASSESSED
    if isinstance(section, Mapping) and section.get("not_applicable") is True:
        return f"Not applicable: {md(as_text(section.get('reason')) or 'this analysis does not apply to this model')}."
    return None


def _explanations(results: Mapping[str, Any], model: str) -> str:
    entry = as_dict(as_dict(results.get("models")).get(model))
    expl, faith = as_dict(entry.get("explanations")), entry.get("faithfulness")
    out = ["## Explanations", ""]
    if expl:
        methods = ", ".join(md(as_text(m).replace("_", " ")) for m in as_list(expl.get("methods")))
        out.append(f"Word attributions ({methods or 'no method recorded'}) for {len(as_list(expl.get('examples')))} "
                   "evaluation examples: the most confident correct, the misclassified and the least confident.")
        ig = as_dict(as_dict(expl.get("summary")).get("integrated_gradients"))
        if as_int(ig.get("n")):
            out.append(f"\nIntegrated-gradients completeness: {fmt_num(as_int(ig.get('n_flagged')))} of {fmt_num(as_int(ig.get('n')))} "
                       f"examples above the error tolerance (median relative error {fmt_pct(ig.get('median_relative_error'), 2)}).")
        checks = _check_lines(_checks(results, model, "explanations"))
        out += ["", checks] if checks else []
    else:
        out.append("Not assessed: no examples were explained for this model.")
    out += ["", "### Explanation quality", ""]
    note = _not_run(faith)
    if note:
        out.append(note)
    else:
        rec = as_dict(as_dict(faith).get("recommendation"))
        if rec.get("method"):
            out.append(f"Most faithful method: **{md(as_text(rec.get('method')).replace('_', ' '))}** "
                       f"({md(as_text(rec.get('reason')))}).")
        out += ["", _check_lines(_checks(results, model, "faithfulness"))]
    return "\n".join(out).rstrip()


def _robustness(results: Mapping[str, Any], model: str) -> str:
    section = as_dict(as_dict(results.get("models")).get(model)).get("robustness")
    out = ["## Robustness", ""]
    note = _not_run(section)
    if note:
        return "\n".join(out + [note])
    rob = as_dict(section)
    facts = []
    inv = as_dict(rob.get("invariance"))
    if as_int(inv.get("n_tests")) is not None:
        applicable = (as_int(inv.get("n_tests")) or 0) - (as_int(inv.get("n_not_applicable")) or 0)
        facts.append(f"invariance: {fmt_num(as_int(inv.get('n_passed')))} of {fmt_num(applicable)} applicable tests passed "
                     f"on {fmt_num(as_int(inv.get('n_texts')))} texts")
    budgets = [as_dict(b) for b in as_list(as_dict(rob.get("char_attack")).get("budgets"))]
    if budgets and as_finite(budgets[-1].get("success_rate")) is not None:
        top = budgets[-1]
        facts.append(f"character attack: {fmt_pct(top.get('success_rate'))} attack success with up to "
                     f"{fmt_num(as_int(top.get('k')))} typos")
    word = as_dict(rob.get("word_attack"))
    if as_finite(word.get("valid_success_rate")) is not None:
        facts.append(f"word attack: {fmt_pct(word.get('valid_success_rate'))} attack success with meaning-preserving substitutions")
    rad = as_dict(rob.get("radius1"))
    if as_finite(rad.get("certified_fraction")) is not None:
        facts.append(f"radius-1 certificate: {fmt_pct(rad.get('certified_fraction'))} of the correctly classified texts "
                     "checked keep their prediction under every single edit")
    out += [bullets(facts), "", _check_lines(_checks(results, model, "robustness"))]
    return "\n".join(out).rstrip()


def _privacy(results: Mapping[str, Any], model: str) -> str:
    section = as_dict(as_dict(results.get("models")).get(model)).get("privacy_audit")
    out = ["## Privacy", "", "### Leakage audit", ""]
    note = _not_run(section)
    if note:
        return "\n".join(out + [note])
    pa = as_dict(section)
    facts = []
    mia = as_dict(pa.get("membership_inference"))
    attacks = as_dict(mia.get("attacks"))
    primary = as_text(mia.get("primary"))
    best = as_dict(attacks.get(primary)) if primary in attacks else {}
    auc = as_finite(as_dict(best.get("auc")).get("value"))
    if auc is not None:
        facts.append(f"membership inference ({md(primary)} attack): AUC {fmt_num(auc)} on {fmt_num(as_int(mia.get('n_members')))} "
                     f"training and {fmt_num(as_int(mia.get('n_nonmembers')))} held-out records (0.5 is chance)")
    can = as_dict(pa.get("canaries"))
    if as_finite(can.get("max_exposure")) is not None:
        facts.append(f"canaries: highest exposure {fmt_num(as_finite(can.get('max_exposure')), 1)} bits over "
                     f"{fmt_num(as_int(can.get('n')))} planted secrets")
    lb = as_dict(pa.get("epsilon_lower_bound"))
    if as_finite(lb.get("epsilon_lower_bound")) is not None:
        facts.append(f"empirical epsilon lower bound: {fmt_num(as_finite(lb.get('epsilon_lower_bound')), 2)}")
    dp = as_dict(pa.get("dp_bound_check"))
    if dp.get("message"):
        facts.append(md(as_text(dp.get("message"))))
    out += [bullets(facts) if facts else "", "", _check_lines(_checks(results, model, "privacy_audit"))]
    return "\n".join(out).rstrip()


def _limitations(results: Mapping[str, Any], model: str, info: CardInfo) -> str:
    others = [n for n in as_dict(results.get("models")) if n != model]
    notes = [as_text(x) for x in as_list(results.get("limitations")) if isinstance(x, str)]
    notes = [n for n in notes if not any(n.startswith(f"{o}: ") for o in others)]
    items = [md(n) for n in notes] + [md(x) for x in info.limitations]
    if not info.limitations:
        items.append(md(missing("known limitations, risks and biases of the intended use")))
    return "\n".join(["## Limitations", "", bullets(items)])


def _regulatory(results: Mapping[str, Any], model: str) -> str:
    m = regulatory_map(results, model)
    out = ["## Regulatory map (EU AI Act)", "", f"> **{md(m['notice'])}**", ""]
    for h in m["headings"]:
        out += [f"### {md(h['reference'])}: {md(h['title'])}", "", md(h["summary"]), ""]
        rows = []
        for e in h["evidence"]:
            status = e["status"] if e["status"] != ASSESSED else "**assessed**"
            if e.get("note") and e["status"] != ASSESSED:
                status += f" ({md(e['note'])})"
            checks = "; ".join(f"{md(c['name'])} ({md(c['status'])})" for c in e["checks"]) or "none"
            rows.append([md(e["title"]), md(e["what"]), status, checks])
        out += [table(["Evidence in this audit", "What it records", "Status", "Checks"], rows), ""]
    return "\n".join(out).rstrip()


def card_text(results: Mapping[str, Any], model: str, info: CardInfo) -> str:
    """The markdown body of the card (without front matter)."""
    entry = as_dict(as_dict(results.get("models")).get(model))
    title = info.model_name or model
    intro = ("This card was generated from an audit's results.json by textaudit. Numbers come from the audit; "
             f"fields marked “{md(missing('…'))}” can only be supplied by the model's owner.")
    parts = [f"# {md(title)}", intro, _details(results, model, info), _intended_use(info), _training(entry),
             _evaluation(results, model, info), _explanations(results, model), _robustness(results, model),
             _privacy(results, model), _limitations(results, model, info), _regulatory(results, model)]
    return "\n\n".join(p for p in parts if p is not None) + "\n"


def build_card(results: Mapping[str, Any], model: str | None = None, info: CardInfo | None = None) -> Any:
    """A ``huggingface_hub.ModelCard`` for one model of the results."""
    from huggingface_hub import ModelCard

    info = info or CardInfo()
    model = select_model(results, model)
    data = card_data(results, model, info)
    text = f"---\n{data.to_yaml()}\n---\n\n{card_text(results, model, info)}"
    return ModelCard(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
