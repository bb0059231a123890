"""Character-level attack: ours against TextAttack's DeepWordBug, same model, texts, budgets and timing protocol.

What runs (every row on the same fine-tuned classifier saved to disk, the same evaluation texts,
the same edit budgets k, the same stopword list, the same per-example query budget, the same
truncation length and the same number of CPU threads):

* ``ours``: :class:`audit.robustness.search.CharAttack` as the audit runs it. Search space:
  keyboard typos (swap two adjacent letters, delete one, substitute a QWERTY neighbour, insert a
  neighbour or a copy of an adjacent letter), at most one per word, up to 8 sampled candidates
  per word (spread over the four kinds), words of 3 letters or more that are neither stopwords
  nor negators; words ranked by gradient saliency (one forward and one backward pass per
  example, batched over examples); greedy over words, stop at the first flip, at k edited words
  or at the query budget. Examples are searched in lockstep so one model call scores the
  candidates of many examples (dynamic padding, length buckets, batch size 128).
* ``ours, 4 per word``: the same with 4 candidates per word (one of each typo kind), the number
  DeepWordBug tries, so the per-word search is the same size on both sides.
* ``TextAttack unk``: TextAttack's DeepWordBugGao2018 recipe as published (its four
  transformations, one random candidate each: swap two adjacent letters, substitute a random
  letter, delete a random letter, insert a random letter; ``RepeatModification``,
  ``StopwordModification`` with our stopword list, ``LevenshteinEditDistance(30)``; greedy search
  with ``wir_method="unk"``, which ranks words by replacing each with ``[UNK]``, one counted query
  per word) plus ``MaxWordsPerturbed(k)`` for the edit budget and ``query_budget``.
* ``TextAttack gradient``: the same with ``wir_method="gradient"``, TextAttack's own gradient
  ranking (one forward and backward pass per example, not counted as a query by TextAttack), so
  both sides rank words by gradient.
* ``TextAttack unk, pads to 128`` (only with ``--stock-wrapper``): TextAttack's stock
  ``HuggingFaceModelWrapper``, which pads every query to the tokenizer's maximum length (set to
  128 tokens here).

TextAttack's rows use a model wrapper written for this benchmark, as a careful TextAttack user
would: each query batch is tokenised with ``padding="longest"`` and truncated at 128 tokens (the
length at which ours truncates), scored under ``torch.no_grad``, and the goal function batches
queries with ``model_batch_size=128``, the batch size ours uses. Its ``get_grad`` takes the
gradient of the cross-entropy at the predicted label with respect to the input embeddings for the
unpadded text, with the model in eval mode (the stock wrapper pads to the maximum length and
switches dropout on). TextAttack attacks one example at a time (its API has no batching across
examples; its parallel mode, worker processes per GPU, refuses to run without a GPU), so its
batches are the candidates of one word, or all words for the ``unk`` ranking.

Queries: a query is one text scored by the model for one example, the original text included, on
both sides. TextAttack counts every text submitted (also a repeat of a text already scored); ours
counts each distinct text once. The gradient pass of a gradient ranking is not a query on either
side; the ``+rank`` columns count it as one query per attacked example (a forward and a backward
pass of the original text, about three forward passes of compute; its time is in the timings), so
ours and ``TextAttack unk`` (whose ranking queries are counted) compare like for like.

Timing protocol (both sides alike): per row one untimed warm-up run over all texts at the largest
budget, then ``--repeats`` timed runs per budget, each from a fresh state (a new cache on our
side, a new ``Attack`` with empty caches on TextAttack's), with the seeds reset. The runs are
interleaved: TextAttack stays loaded in its subprocess and attacks on request, and each round
runs every row once, in an order rotated by one per round, so a shared machine's drifting speed
falls on every row alike rather than on whichever ran last. Each process times its own runs
(wall clock and process CPU time, excluding the hand-over between the processes); reported as
the median and interquartile range per example. These are multi-second runs, so 3 repeats are
the default (the 10-repeat rule of ``_record`` is for sub-second work). The success and query
figures are identical in every repeat (checked).

Threads: both sides use ``--threads`` torch threads (default 1). On a machine shared with other
jobs, two threads on two cores lose time to thread synchronisation whenever one is descheduled,
and that loss falls mostly on the side making many small model calls (TextAttack, one example at
a time), so one thread measures the work rather than the contention; on an idle machine raise it.

TextAttack runs in its own virtual environment in a subprocess (it is never a dependency of this
package); it needs NLTK's English stopword list to import, so the benchmark writes our stopword
list into a temporary NLTK_DATA directory and nothing is downloaded:

    python -m venv .bench/textattack-venv
    .bench/textattack-venv/bin/pip install torch==2.13.0          # first, so pip keeps the CPU build
    .bench/textattack-venv/bin/pip install textattack 'transformers<5'

    python benchmarks/bench_attack.py                       # fine-tunes the backbone on demo data once
    python benchmarks/bench_attack.py --n 30 --budgets 1 2 4 --repeats 3 --stock-wrapper --record
    python benchmarks/bench_attack.py --skip-textattack     # ours only

Then our word-level attack on the same texts (ours only; one run). Timings on a shared machine are
noisy; two rows never run at the same time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _record  # noqa: E402

DEFAULT_VENV = REPO / ".bench" / "textattack-venv"
DEFAULT_VICTIM = REPO / ".bench" / "bench-victim"
MAX_LENGTH = 128  # tokens; every row truncates here
BATCH_SIZE = 128  # our Victim's batch size; TextAttack's model_batch_size is set to the same

OURS = {"ours": 8, "ours, 4 per word": 4}  # row name -> candidates per word
TEXTATTACK = {"TextAttack unk": ("dynamic", "unk"), "TextAttack gradient": ("dynamic", "gradient")}
STOCK = {"TextAttack unk, pads to 128": ("stock", "unk")}

TEXTATTACK_SCRIPT = textwrap.dedent(
    '''
    import json, random, sys, time
    # Protocol: one JSON request per line on stdin ({"row": name, "k": k}, or {"quit": true}), one JSON
    # answer per line on the original stdout; anything else printed goes to stderr.
    channel, sys.stdout = sys.stdout, sys.stderr
    import numpy as np
    import torch
    job = json.load(open(sys.argv[1]))
    torch.set_num_threads(job["threads"])
    import transformers
    from textattack import Attack
    from textattack.attack_results import SkippedAttackResult, SuccessfulAttackResult
    from textattack.constraints.overlap import LevenshteinEditDistance, MaxWordsPerturbed
    from textattack.constraints.pre_transformation import RepeatModification, StopwordModification
    from textattack.goal_functions import UntargetedClassification
    from textattack.models.wrappers import HuggingFaceModelWrapper
    from textattack.search_methods import GreedyWordSwapWIR
    from textattack.transformations import (CompositeTransformation, WordSwapNeighboringCharacterSwap,
        WordSwapRandomCharacterDeletion, WordSwapRandomCharacterInsertion, WordSwapRandomCharacterSubstitution)


    class DynamicPaddingWrapper(HuggingFaceModelWrapper):
        """Pads each query batch to its longest text (not to the maximum length), truncates at
        ``max_tokens``; gradients for the unpadded text with the model in eval mode."""

        def __init__(self, model, tokenizer, max_tokens):
            super().__init__(model, tokenizer)
            self.max_tokens = max_tokens

        def _encode(self, texts):
            return self.tokenizer(list(texts), padding="longest", truncation=True, max_length=self.max_tokens,
                                  return_tensors="pt")

        def __call__(self, text_input_list):
            with torch.no_grad():
                return self.model(**self._encode(text_input_list)).logits

        def get_grad(self, text_input):
            enc = self._encode([text_input])
            kept = []
            hook = self.model.get_input_embeddings().register_forward_hook(lambda m, i, out: kept.append(out))
            try:
                with torch.enable_grad():
                    logits = self.model(**enc).logits
                    loss = torch.nn.functional.cross_entropy(logits, logits.argmax(1))
                    (grad,) = torch.autograd.grad(loss, kept[0])
            finally:
                hook.remove()
            return {"ids": enc["input_ids"], "gradient": grad[0].numpy()}


    model = transformers.AutoModelForSequenceClassification.from_pretrained(job["model"]).eval()
    tok = transformers.AutoTokenizer.from_pretrained(job["model"])
    tok.model_max_length = job["max_length"]  # the stock wrapper pads every query to this; all rows truncate here
    wrappers = {"dynamic": DynamicPaddingWrapper(model, tok, job["max_length"]), "stock": HuggingFaceModelWrapper(model, tok)}


    def build(wrapper, wir, k):
        # TextAttack's DeepWordBugGao2018 recipe, plus the edit budget, the query budget and our stopword list.
        transformation = CompositeTransformation([WordSwapNeighboringCharacterSwap(), WordSwapRandomCharacterSubstitution(),
                                                  WordSwapRandomCharacterDeletion(), WordSwapRandomCharacterInsertion()])
        constraints = [RepeatModification(), StopwordModification(stopwords=set(job["stopwords"])),
                       LevenshteinEditDistance(30), MaxWordsPerturbed(max_num_words=k)]
        goal = UntargetedClassification(wrapper, query_budget=job["query_budget"], model_batch_size=job["batch_size"])
        return Attack(goal, constraints, transformation, GreedyWordSwapWIR(wir_method=wir))


    def run_once(wrapper, wir, k):
        random.seed(job["seed"]); np.random.seed(job["seed"]); torch.manual_seed(job["seed"])
        attack = build(wrapper, wir, k)  # a fresh attack: empty query, transformation and constraint caches
        rows = []
        t0, c0 = time.perf_counter(), time.process_time()
        for text, label in zip(job["texts"], job["labels"]):
            result = attack.attack(text, label)
            rows.append({"status": "skipped" if isinstance(result, SkippedAttackResult) else
                         ("success" if isinstance(result, SuccessfulAttackResult) else "failed"),
                         "queries": int(result.num_queries), "adversarial_text": result.perturbed_result.attacked_text.text})
        return rows, time.perf_counter() - t0, time.process_time() - c0


    from importlib import metadata
    rows = job["rows"]


    def answer(obj):
        channel.write(json.dumps(obj) + "\\n")
        channel.flush()


    answer({"versions": {lib: metadata.version(lib) for lib in ("textattack", "torch", "transformers", "tokenizers")}})
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            break
        wrapper_kind, wir = rows[request["row"]]
        result, wall, cpu = run_once(wrappers[wrapper_kind], wir, int(request["k"]))
        answer({"rows": result, "wall_s": wall, "cpu_s": cpu})
    '''
)


def get_victim(args: argparse.Namespace):
    """The classifier under attack: --model, or the backbone fine-tuned on demo data (cached)."""
    from audit.models import load_model

    if args.model:
        return load_model(args.model, device="cpu"), Path(args.model)
    if (DEFAULT_VICTIM / "config.json").is_file():
        return load_model(DEFAULT_VICTIM, device="cpu"), DEFAULT_VICTIM
    from audit.demo import demo_splits
    from audit.training import fine_tune
    from audit.training.finetune import save_checkpoint

    print(f"fine-tuning the backbone on demo data (once; saved to {DEFAULT_VICTIM}) ...", flush=True)
    train, ev = demo_splits(n=2400, seed=0)
    bundle = load_model(None, num_labels=2, device="cpu", label_names=train.label_names, seed=0)
    record = fine_tune(bundle, train, ev, epochs=2, lr=1e-4, batch_size=32, max_length=64, seed=0, show_progress=True)
    save_checkpoint(bundle, DEFAULT_VICTIM, record)
    print(f"  eval accuracy {record.epochs[-1]['eval']['accuracy']:.3f}", flush=True)
    return bundle, DEFAULT_VICTIM


class OurSide:
    """One of our rows: a run over all texts at budget k with a fresh victim (empty cache)."""

    def __init__(self, bundle, texts, labels, candidates_per_word: int, args: argparse.Namespace) -> None:
        from audit.robustness.lexicon import Lexicon

        self.bundle, self.texts, self.labels = bundle, texts, labels
        self.candidates_per_word, self.args = candidates_per_word, args
        self.lexicon = Lexicon.load()

    def run(self, k: int) -> tuple[list[dict], float, float]:
        from audit.robustness.search import CharAttack
        from audit.robustness.victim import Victim

        attack = CharAttack((k,), candidates_per_word=self.candidates_per_word, query_budget=self.args.query_budget,
                            seed=self.args.seed, lexicon=self.lexicon)
        t0, c0 = time.perf_counter(), time.process_time()
        recs = attack.run(Victim(self.bundle, batch_size=BATCH_SIZE, max_length=MAX_LENGTH), self.texts, self.labels)[k]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return [{"status": r.status, "queries": r.queries, "adversarial_text": r.adversarial_text} for r in recs], wall, cpu


class TextAttackServer:
    """TextAttack in its own environment, kept running in a subprocess that attacks on request, so
    its runs can be interleaved with ours. Its wall and CPU times are measured inside it."""

    def __init__(self, python: Path, model_dir: Path, texts, labels, rows: dict, args: argparse.Namespace) -> None:
        from audit.robustness.wordlists import STOPWORDS

        self._tmp = tempfile.TemporaryDirectory()
        tmp = Path(self._tmp.name)
        (tmp / "nltk" / "corpora" / "stopwords").mkdir(parents=True)
        (tmp / "nltk" / "corpora" / "stopwords" / "english").write_text("\n".join(sorted(STOPWORDS)) + "\n")
        (tmp / "job.json").write_text(json.dumps({
            "model": os.path.abspath(model_dir), "texts": texts, "labels": labels, "query_budget": args.query_budget,
            "stopwords": sorted(STOPWORDS), "threads": args.threads, "seed": args.seed, "max_length": MAX_LENGTH,
            "batch_size": BATCH_SIZE, "rows": rows}))
        (tmp / "run.py").write_text(TEXTATTACK_SCRIPT)
        env = dict(os.environ, NLTK_DATA=str(tmp / "nltk"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(args.threads), PYTHONWARNINGS="ignore")
        self._stderr = open(tmp / "stderr.txt", "w")
        self.proc = subprocess.Popen([os.path.abspath(python), str(tmp / "run.py"), str(tmp / "job.json")], env=env,
                                     cwd=tmp, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self.versions = self._receive()["versions"]

    def _receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self._stderr.flush()
            tail = (Path(self._tmp.name) / "stderr.txt").read_text()[-3000:]
            raise RuntimeError(f"TextAttack failed (exit {self.proc.returncode}):\n{tail}")
        return json.loads(line)

    def side(self, row: str):
        def run(k: int) -> tuple[list[dict], float, float]:
            self.proc.stdin.write(json.dumps({"row": row, "k": k}) + "\n")
            self.proc.stdin.flush()
            out = self._receive()
            return out["rows"], out["wall_s"], out["cpu_s"]
        return run

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        self._tmp.cleanup()


def run_interleaved(sides: dict, budgets, warmup: int, repeats: int) -> dict[str, dict[str, dict]]:
    """Every side: ``warmup`` untimed runs at the largest budget; then per budget ``repeats`` rounds,
    each running every side once in an order rotated by one per round, so a shared machine's drift
    in speed falls on every side alike. Returns {side: {k: {"rows": [...], "wall_s": [...], "cpu_s": [...]}}}."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name](max(budgets))
    out: dict[str, dict[str, dict]] = {name: {} for name in names}
    for k in budgets:
        for name in names:
            out[name][str(k)] = {"rows": [], "wall_s": [], "cpu_s": []}
        for r in range(repeats):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                rows, wall, cpu = sides[name](k)
                run = out[name][str(k)]
                run["rows"].append(rows)
                run["wall_s"].append(wall)
                run["cpu_s"].append(cpu)
        print(f"  k={k}: done", flush=True)
    return out


def summarise(run: dict, gradient_ranking: bool) -> dict:
    """Success and query figures of one budget's runs (identical in every repeat) and their timings."""
    rows = run["rows"][-1]
    outcomes = [[(r["status"], r["queries"]) for r in rep] for rep in run["rows"]]
    attacked = [r for r in rows if r["status"] != "skipped"]
    success = [r for r in attacked if r["status"] == "success"]
    q = [r["queries"] for r in attacked]
    rank = 1 if gradient_ranking else 0  # the gradient pass, counted as one query per attacked example
    n = max(1, len(rows))
    return {
        "n": len(rows), "attacked": len(attacked), "success": len(success),
        "success_rate": len(success) / len(attacked) if attacked else float("nan"),
        "mean_queries": statistics.mean(q) if q else float("nan"),
        "queries_per_success": sum(q) / len(success) if success else float("nan"),
        "ranking_queries_per_example": rank,
        "mean_queries_with_ranking": statistics.mean(q) + rank if q else float("nan"),
        "queries_per_success_with_ranking": (sum(q) + rank * len(q)) / len(success) if success else float("nan"),
        "same_outcome_every_repeat": all(o == outcomes[0] for o in outcomes),
        "wall_per_example": _record.summarise([t / n for t in run["wall_s"]]),
        "cpu_per_example": _record.summarise([t / n for t in run["cpu_s"]]),
        "statuses": [r["status"] for r in rows], "queries": [r["queries"] for r in rows],
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def print_table(rec: _record.Recorder, budgets, table: dict[str, dict[str, dict]]) -> None:
    rec.print("\ncharacter-level attack (wall and CPU time per example: median [interquartile range])")
    rec.print(f"{'k':>2}  {'attack':<28}{'success':>8}{'queries':>9}{'+rank':>7}{'q/success':>11}{'+rank':>7}"
              f"{'ms/example':>26}{'CPU ms/example':>26}")
    for k in budgets:
        for name, per_k in table.items():
            s = per_k[str(k)]
            flag = "" if s["same_outcome_every_repeat"] else "  (outcomes differ between repeats)"
            rec.print(f"{k:>2}  {name:<28}{s['success_rate']:>8.1%}{s['mean_queries']:>9.1f}{s['mean_queries_with_ranking']:>7.1f}"
                      f"{s['queries_per_success']:>11.1f}{s['queries_per_success_with_ranking']:>7.1f}"
                      f"{_record.fmt_time(s['wall_per_example']):>26}{_record.fmt_time(s['cpu_per_example']):>26}"
                      + flag)


def print_ratios(rec: _record.Recorder, budgets, table: dict[str, dict[str, dict]]) -> dict:
    """Ours against each TextAttack row: success, median wall and CPU time, queries per success
    with the gradient pass counted as one query (TextAttack's ``unk`` ranking queries are counted)."""
    out: dict = {}
    theirs = [name for name in table if name.startswith("TextAttack")]
    if not theirs:
        return out
    rec.print("\nratios: success ours / TextAttack; median wall and CPU time and queries per success (+rank) TextAttack / ours")
    for k in budgets:
        for mine, name in ((mine, name) for mine in OURS for name in theirs):
            o, t = table[mine][str(k)], table[name][str(k)]
            r = {"success": _ratio(o["success_rate"], t["success_rate"]),
                 "wall": _ratio(t["wall_per_example"]["median_s"], o["wall_per_example"]["median_s"]),
                 "cpu": _ratio(t["cpu_per_example"]["median_s"], o["cpu_per_example"]["median_s"]),
                 "queries_per_success_with_ranking": _ratio(t["queries_per_success_with_ranking"],
                                                            o["queries_per_success_with_ranking"])}
            out.setdefault(str(k), {})[f"{mine} vs {name}"] = r
            rec.print(f"{k:>2}  {mine + ' vs ' + name:<52} success {r['success']:.2f}x, wall time {r['wall']:.2f}x, "
                      f"CPU time {r['cpu']:.2f}x, queries/success {r['queries_per_success_with_ranking']:.2f}x")
    return out


def word_attack(rec: _record.Recorder, bundle, texts, labels, query_budget: int) -> dict:
    from audit.robustness.candidates import CandidateGenerator
    from audit.robustness.constraints import SentenceEncoder
    from audit.robustness.lexicon import Lexicon
    from audit.robustness.metrics import attack_metrics
    from audit.robustness.search import WordAttack
    from audit.robustness.victim import Victim

    encoder = SentenceEncoder(device="cpu")
    t0, c0 = time.perf_counter(), time.process_time()
    attack = WordAttack(CandidateGenerator(bundle, Lexicon.load()), query_budget=query_budget)
    recs = attack.run(Victim(bundle, batch_size=BATCH_SIZE, max_length=MAX_LENGTH), texts, labels, encoder=encoder)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = attack_metrics(recs, n_total=len(texts), max_queries=query_budget)
    rec.print("\nword-level attack (ours, one cold run): "
              f"success {m['success_rate']:.1%}, validity-adjusted {m['valid_success_rate']:.1%}, "
              f"queries per success {m['queries_per_success'] or float('nan'):.1f}, mean queries {m['queries']['mean']:.1f}, "
              f"similarity {m['similarity']['mean'] or float('nan'):.3f}, {seconds / len(texts):.3f} s/example "
              f"({cpu / len(texts):.3f} CPU s)")
    return {k: m[k] for k in ("success_rate", "valid_success_rate", "queries_per_success", "queries", "similarity",
                              "invalid_reasons")} | {"seconds_per_example": seconds / len(texts),
                                                     "cpu_seconds_per_example": cpu / len(texts)}


def search_spaces(args: argparse.Namespace) -> dict[str, str]:
    common = (f"edit budget k words (one edit per word), query budget {args.query_budget} per example, "
              f"truncation at {MAX_LENGTH} tokens, the same stopword list")
    return {
        "ours": "keyboard typos (adjacent swap, deletion, QWERTY-neighbour substitution, neighbour/copy insertion); "
                "up to 8 sampled candidates per word over the four kinds; words of >= 3 letters, no stopwords or negators; "
                "gradient ranking (one forward+backward per example, batched); greedy, valid (unflagged) edits first; " + common,
        "ours, 4 per word": "as ours with 4 candidates per word (one of each kind)",
        "TextAttack": "DeepWordBugGao2018: adjacent swap, random-letter substitution, random deletion, random insertion, "
                      "one random candidate each (<= 4 per word); RepeatModification, StopwordModification, "
                      "LevenshteinEditDistance(30), MaxWordsPerturbed(k); GreedyWordSwapWIR (unk: one counted query "
                      "per word; gradient: one uncounted forward+backward per example); " + common,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a fine-tuned classifier directory (default: fine-tune the backbone on demo data once)")
    ap.add_argument("--n", type=int, default=30, help="evaluation texts to attack")
    ap.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4], help="character edit budgets k")
    ap.add_argument("--query-budget", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1, help="torch threads on both sides (default 1: see the docstring)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs per row at the largest budget (both sides)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row and budget (both sides)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--textattack-venv", type=Path, default=DEFAULT_VENV)
    ap.add_argument("--skip-textattack", action="store_true")
    ap.add_argument("--stock-wrapper", action="store_true",
                    help="add a row with TextAttack's stock wrapper (pads every query to 128 tokens)")
    ap.add_argument("--skip-word", action="store_true")
    _record.add_record_argument(ap)
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be >= 1 and --warmup >= 0")

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from audit.demo import demo_splits

    rec = _record.Recorder("bench_attack", args)
    rec.add("load_average_at_start", os.getloadavg())
    bundle, model_dir = get_victim(args)
    _, ev = demo_splits(n=2400, seed=0)
    pick = sorted(np.random.default_rng(args.seed).permutation(len(ev))[: args.n].tolist())
    texts, labels = [ev.texts[i] for i in pick], [ev.labels[i] for i in pick]
    lengths = bundle.token_lengths(texts, MAX_LENGTH)
    rec.print(f"victim {model_dir}; {len(texts)} demo evaluation texts ({min(lengths)}-{max(lengths)} tokens, median "
              f"{statistics.median(lengths):.0f}); query budget {args.query_budget}; {args.threads} threads; "
              f"{args.warmup} warm-up run(s) and {args.repeats} timed repeats per row and budget on both sides")
    spaces = rec.add("search_spaces", search_spaces(args))
    for name, text in spaces.items():
        rec.print(f"  {name}: {text}")
    rec.add("texts", {"indices": pick, "token_lengths": lengths})

    sides = {name: OurSide(bundle, texts, labels, per_word, args).run for name, per_word in OURS.items()}
    rows = TEXTATTACK | (STOCK if args.stock_wrapper else {})
    server = None
    if not args.skip_textattack:
        python = args.textattack_venv / "bin" / "python"
        if not python.is_file():
            rec.add("textattack_error", f"no TextAttack environment at {args.textattack_venv} (see this file's docstring)")
        else:
            try:
                server = TextAttackServer(python, model_dir, texts, labels, rows, args)
            except RuntimeError as exc:
                rec.add("textattack_error", str(exc))
    try:
        if server is not None:
            rec.add("textattack_versions", server.versions)
            rec.print("TextAttack environment: " + ", ".join(f"{k} {v}" for k, v in server.versions.items()))
            sides |= {name: server.side(name) for name in rows}
        runs = run_interleaved(sides, args.budgets, args.warmup, args.repeats)
    finally:
        if server is not None:
            server.close()
    table = {name: {k: summarise(r, gradient_ranking=name in OURS or rows[name][1] == "gradient")
                    for k, r in per_k.items()} for name, per_k in runs.items()}
    rec.add("char", table)
    print_table(rec, args.budgets, table)
    rec.add("ratios", print_ratios(rec, args.budgets, table))
    rec.print("+rank: the gradient pass counted as one query per attacked example (TextAttack unk's ranking queries "
              "are already counted)")
    if "textattack_error" in rec.data:
        rec.print(f"\nTextAttack not run: {rec.data['textattack_error']}")
    if not args.skip_word:
        rec.add("word", word_attack(rec, bundle, texts, labels, args.query_budget))
    rec.add("load_average_at_end", os.getloadavg())
    rec.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
