"""Character-level attack: ours against TextAttack's DeepWordBug, same model, same texts, same budget.

Both attacks run on the same fine-tuned classifier (saved to disk), the same evaluation texts and
the same edit budget k (at most k words changed by one character each: DeepWordBug's
transformations with TextAttack's ``MaxWordsPerturbed(k)`` constraint added), with the same
stopword list, the same per-example query budget and the same number of CPU threads. TextAttack
runs in its own virtual environment in a subprocess (it is never a dependency of this package):

    python -m venv .bench/textattack-venv
    .bench/textattack-venv/bin/pip install torch==2.13.0          # first, so pip keeps the CPU build
    .bench/textattack-venv/bin/pip install textattack 'transformers<5'

TextAttack needs NLTK's English stopword list to import; the benchmark writes our stopword list
into a temporary NLTK_DATA directory, so nothing is downloaded. Prints, per budget: success
rate, mean queries, queries per success, and wall-clock and CPU seconds per example for both
(ours: median of --repeats runs after a warm-up run; TextAttack: one run), and the ratios; then
our word-level attack (success, queries per success, validity-adjusted success).

    python benchmarks/bench_attack.py                       # fine-tunes the backbone on demo data once
    python benchmarks/bench_attack.py --model out/models/baseline --n 100 --budgets 1 2 4
    python benchmarks/bench_attack.py --skip-textattack     # ours only

Timings on a shared machine are noisy; both sides run one after the other, never together.
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

DEFAULT_VENV = REPO / ".bench" / "textattack-venv"
DEFAULT_VICTIM = REPO / ".bench" / "bench-victim"
MAX_LENGTH = 128  # tokens; both attacks truncate here

TEXTATTACK_SCRIPT = textwrap.dedent(
    '''
    import json, sys, time
    job = json.load(open(sys.argv[1]))
    import torch
    torch.set_num_threads(job["threads"])
    import transformers
    from textattack import Attack
    from textattack.constraints.overlap import LevenshteinEditDistance, MaxWordsPerturbed
    from textattack.constraints.pre_transformation import RepeatModification, StopwordModification
    from textattack.goal_functions import UntargetedClassification
    from textattack.models.wrappers import HuggingFaceModelWrapper
    from textattack.search_methods import GreedyWordSwapWIR
    from textattack.shared import AttackedText
    from textattack.attack_results import SkippedAttackResult, SuccessfulAttackResult
    from textattack.transformations import (CompositeTransformation, WordSwapNeighboringCharacterSwap,
        WordSwapRandomCharacterDeletion, WordSwapRandomCharacterInsertion, WordSwapRandomCharacterSubstitution)
    import random, numpy as np
    model = transformers.AutoModelForSequenceClassification.from_pretrained(job["model"]).eval()
    tok = transformers.AutoTokenizer.from_pretrained(job["model"])
    tok.model_max_length = job["max_length"]  # the wrapper pads every batch to this length; ours truncates at the same
    wrapper = HuggingFaceModelWrapper(model, tok)
    out = []
    for k in job["budgets"]:
        random.seed(job["seed"]); np.random.seed(job["seed"]); torch.manual_seed(job["seed"])
        # TextAttack's DeepWordBugGao2018 recipe, plus the edit budget and our stopword list.
        transformation = CompositeTransformation([WordSwapNeighboringCharacterSwap(), WordSwapRandomCharacterSubstitution(),
                                                  WordSwapRandomCharacterDeletion(), WordSwapRandomCharacterInsertion()])
        constraints = [RepeatModification(), StopwordModification(stopwords=set(job["stopwords"])),
                       LevenshteinEditDistance(30), MaxWordsPerturbed(max_num_words=k)]
        goal = UntargetedClassification(wrapper, query_budget=job["query_budget"])
        attack = Attack(goal, constraints, transformation, GreedyWordSwapWIR(wir_method="unk"))
        rows = []
        start = time.perf_counter()
        cpu = time.process_time()
        for text, label in zip(job["texts"], job["labels"]):
            t0 = time.perf_counter()
            result = attack.attack(text, label)
            rows.append({"status": "skipped" if isinstance(result, SkippedAttackResult) else
                         ("success" if isinstance(result, SuccessfulAttackResult) else "failed"),
                         "queries": int(result.num_queries), "seconds": time.perf_counter() - t0,
                         "adversarial_text": result.perturbed_result.attacked_text.text})
        out.append({"k": k, "rows": rows, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu})
    json.dump(out, open(sys.argv[2], "w"))
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


def run_ours(bundle, texts, labels, k: int, query_budget: int, seed: int, repeats: int = 1) -> dict:
    """Our attack at budget k; wall and CPU time are the medians of ``repeats`` runs (a fresh cache each)."""
    from audit.robustness.lexicon import Lexicon
    from audit.robustness.search import CharAttack
    from audit.robustness.victim import Victim

    attack = CharAttack((k,), query_budget=query_budget, seed=seed, lexicon=Lexicon.load())
    walls, cpus = [], []
    for _ in range(max(1, repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        recs = attack.run(Victim(bundle, max_length=MAX_LENGTH), texts, labels)[k]
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"k": k, "rows": [{"status": r.status, "queries": r.queries, "adversarial_text": r.adversarial_text} for r in recs],
            "seconds": statistics.median(walls), "cpu_seconds": statistics.median(cpus)}


def run_textattack(python: Path, model_dir: Path, texts, labels, budgets, query_budget: int, threads: int,
                   seed: int) -> list[dict]:
    from audit.robustness.wordlists import STOPWORDS

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "nltk" / "corpora" / "stopwords").mkdir(parents=True)
        (tmp / "nltk" / "corpora" / "stopwords" / "english").write_text("\n".join(sorted(STOPWORDS)) + "\n")
        (tmp / "job.json").write_text(json.dumps({
            "model": os.path.abspath(model_dir), "texts": texts, "labels": labels, "budgets": budgets,
            "query_budget": query_budget, "stopwords": sorted(STOPWORDS), "threads": threads, "seed": seed,
            "max_length": MAX_LENGTH}))
        (tmp / "run.py").write_text(TEXTATTACK_SCRIPT)
        env = dict(os.environ, NLTK_DATA=str(tmp / "nltk"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
        proc = subprocess.run([os.path.abspath(python), str(tmp / "run.py"), str(tmp / "job.json"), str(tmp / "out.json")],
                              env=env, cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"TextAttack failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads((tmp / "out.json").read_text())


def summarise(run: dict) -> dict:
    rows = run["rows"]
    attacked = [r for r in rows if r["status"] != "skipped"]
    success = [r for r in attacked if r["status"] == "success"]
    q = [r["queries"] for r in attacked]
    return {
        "n": len(rows), "attacked": len(attacked), "success": len(success),
        "success_rate": len(success) / len(attacked) if attacked else float("nan"),
        "mean_queries": statistics.mean(q) if q else float("nan"),
        "queries_per_success": sum(q) / len(success) if success else float("nan"),
        "seconds_per_example": run["seconds"] / max(1, len(rows)),
        "cpu_seconds_per_example": run["cpu_seconds"] / max(1, len(rows)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a fine-tuned classifier directory (default: fine-tune the backbone on demo data once)")
    ap.add_argument("--n", type=int, default=50, help="evaluation texts to attack")
    ap.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4], help="character edit budgets k")
    ap.add_argument("--query-budget", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of our attack per budget (median)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--textattack-venv", type=Path, default=DEFAULT_VENV)
    ap.add_argument("--skip-textattack", action="store_true")
    ap.add_argument("--skip-word", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from audit.demo import demo_splits

    bundle, model_dir = get_victim(args)
    _, ev = demo_splits(n=2400, seed=0)
    pick = sorted(np.random.default_rng(args.seed).permutation(len(ev))[: args.n].tolist())
    texts, labels = [ev.texts[i] for i in pick], [ev.labels[i] for i in pick]
    print(f"victim {model_dir}; {len(texts)} demo evaluation texts; query budget {args.query_budget}; "
          f"{args.threads} threads (timings on a shared machine are noisy)")
    report: dict = {"n": len(texts), "query_budget": args.query_budget, "threads": args.threads, "char": {}}

    run_ours(bundle, texts, labels, max(args.budgets), args.query_budget, args.seed)  # warm-up: lexicon, kernels per shape
    ours = {k: summarise(run_ours(bundle, texts, labels, k, args.query_budget, args.seed, args.repeats)) for k in args.budgets}
    theirs: dict[int, dict] = {}
    why = None
    if not args.skip_textattack:
        python = args.textattack_venv / "bin" / "python"
        if not python.is_file():
            why = f"no TextAttack environment at {args.textattack_venv} (see this file's docstring to create it)"
        else:
            try:
                for run in run_textattack(python, model_dir, texts, labels, args.budgets, args.query_budget, args.threads,
                                          args.seed):
                    theirs[run["k"]] = summarise(run)
            except RuntimeError as exc:
                why = str(exc)
    header = (f"{'k':>2}  {'attack':<22}{'success':>9}{'mean queries':>14}{'queries/success':>17}{'s/example':>11}"
              f"{'CPU s/example':>15}")
    print("\ncharacter-level attack\n" + header)
    for k in args.budgets:
        for name, s in (("ours", ours[k]), ("TextAttack DeepWordBug", theirs.get(k))):
            if s is None:
                continue
            print(f"{k:>2}  {name:<22}{s['success_rate']:>9.1%}{s['mean_queries']:>14.1f}{s['queries_per_success']:>17.1f}"
                  f"{s['seconds_per_example']:>11.3f}{s['cpu_seconds_per_example']:>15.3f}")
        if k in theirs:
            o, t = ours[k], theirs[k]
            print(f"    ratios: success {o['success_rate'] / t['success_rate'] if t['success_rate'] else float('inf'):.2f}x, "
                  f"time {t['seconds_per_example'] / o['seconds_per_example']:.1f}x faster "
                  f"(CPU time {t['cpu_seconds_per_example'] / o['cpu_seconds_per_example']:.1f}x), "
                  f"queries/success {t['queries_per_success'] / o['queries_per_success']:.2f}x fewer")
        report["char"][k] = {"ours": ours[k], "textattack": theirs.get(k)}
    if why:
        print(f"\nTextAttack not run: {why}")
        report["textattack_error"] = why

    if not args.skip_word:
        from audit.robustness.candidates import CandidateGenerator
        from audit.robustness.constraints import SentenceEncoder
        from audit.robustness.lexicon import Lexicon
        from audit.robustness.metrics import attack_metrics
        from audit.robustness.search import WordAttack
        from audit.robustness.victim import Victim

        encoder = SentenceEncoder(device="cpu")
        t0, c0 = time.perf_counter(), time.process_time()
        attack = WordAttack(CandidateGenerator(bundle, Lexicon.load()), query_budget=args.query_budget)
        recs = attack.run(Victim(bundle, max_length=MAX_LENGTH), texts, labels, encoder=encoder)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        m = attack_metrics(recs, n_total=len(texts), max_queries=args.query_budget)
        print("\nword-level attack (ours): "
              f"success {m['success_rate']:.1%}, validity-adjusted {m['valid_success_rate']:.1%}, "
              f"queries per success {m['queries_per_success'] or float('nan'):.1f}, mean queries {m['queries']['mean']:.1f}, "
              f"similarity {m['similarity']['mean'] or float('nan'):.3f}, {seconds / len(texts):.3f} s/example "
              f"({cpu / len(texts):.3f} CPU s)")
        report["word"] = {k: m[k] for k in ("success_rate", "valid_success_rate", "queries_per_success", "queries",
                                            "similarity", "invalid_reasons")} | {"seconds_per_example": seconds / len(texts),
                                                                                 "cpu_seconds_per_example": cpu / len(texts)}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
