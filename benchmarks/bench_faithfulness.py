"""Faithfulness evaluation: ours against ferret's (ferret-xai), on the same model, texts and attributions.

Integrated gradients, SHAP and occlusion explain ``--n`` demo texts (the predicted class) once; both
engines then evaluate exactly these token scores:

* ``ours``   – ``audit.attribution.faithfulness.evaluate_faithfulness`` with the protocol ferret
  uses (bins 10%, 20%, ..., 100% of the sub-word tokens, int(k n) tokens, positive scores only,
  repeated sets skipped, tokens deleted, AOPC = mean over the bins evaluated, Kendall tau with
  leave-one-out by deletion); curves are cut to their two end points, which ferret lacks;
* ``ferret`` – ferret's ``AOPC_Comprehensiveness_Evaluation``, ``AOPC_Sufficiency_Evaluation`` and
  ``TauLOO_Evaluation``, one explanation at a time, run in a subprocess with the Python of the
  virtual environment given by ``--ferret-python`` (default ``.bench/ferret-venv/bin/python``; it
  is never a project dependency: ``python -m venv .bench/ferret-venv``, then ``pip install
  torch==2.13.0`` first, so pip keeps the CPU build, then ``pip install ferret-xai``; on
  NumPy 1.x also ``pip install "pyarrow<18"``).

It prints the seconds each engine spends evaluating (explanations excluded; the median of
``--repeat`` runs each, since a shared machine's speed drifts by 10-20% between runs), the ratio
of the medians (target: ours >= 5x faster), and how well the metric values agree text by text where the definitions
match. They differ where ferret decodes the perturbed token ids back to text and re-tokenizes it
(a word piece left alone can tokenize differently) and where scores tie (word-level methods give
every piece of a word the same score; ferret breaks ties in reverse ``argsort`` order, we keep
text order); texts where ferret falls back to its defaults (no positive score: comprehensiveness 0,
sufficiency 1) are left out of the agreement and counted. Finally the same attributions are
evaluated under the ERASER protocol (bins 1, 5, 10, 20, 50%, at least one token, signed ranking,
AOPC = sum / (bins + 1)) to show how much the protocol alone moves the numbers.

    python benchmarks/bench_faithfulness.py --model out/models/baseline
    python benchmarks/bench_faithfulness.py --model out/models/baseline --n 100 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

FERRET_SCRIPT = r'''
import json, sys, time
import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from ferret.explainers.explanation import Explanation
from ferret.evaluators.faithfulness_measures import (AOPC_Comprehensiveness_Evaluation, AOPC_Sufficiency_Evaluation,
                                                     TauLOO_Evaluation)

spec = json.load(open(sys.argv[1]))
torch.set_num_threads(spec["threads"])
model = AutoModelForSequenceClassification.from_pretrained(spec["model"]).float().eval().to(spec["device"])
tok = AutoTokenizer.from_pretrained(spec["model"])
evaluators = [AOPC_Comprehensiveness_Evaluation(model, tok), AOPC_Sufficiency_Evaluation(model, tok), TauLOO_Evaluation(model, tok)]
items = spec["items"]
seconds = []
for rep in range(spec["repeat"]):
    out = []
    start = time.perf_counter()
    for it in items:
        e = Explanation(it["text"], it["tokens"], np.asarray(it["scores"]), it["method"], it["target"])
        out.append({ev.SHORT_NAME: float(ev.compute_evaluation(e, it["target"]).score) for ev in evaluators})
    seconds.append(time.perf_counter() - start)
json.dump({"seconds": seconds, "results": out, "versions": {
    "ferret": __import__("importlib.metadata").metadata.version("ferret-xai"), "torch": torch.__version__,
    "transformers": __import__("transformers").__version__}}, open(sys.argv[2], "w"))
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (a fine-tuned checkpoint; default: the embedded backbone)")
    ap.add_argument("--n", type=int, default=100, help="number of demo texts")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shap-max-evals", type=int, default=200)
    ap.add_argument("--ferret-python", default=str(REPO / ".bench" / "ferret-venv" / "bin" / "python"))
    ap.add_argument("--repeat", type=int, default=3, help="time each engine this many times; the ratio is of the medians")
    ap.add_argument("--json", default=None, help="also write every number to this file")
    args = ap.parse_args()

    import torch
    import transformers

    from audit import load_model
    from audit.attribution import IntegratedGradients, Occlusion, SHAPText
    from audit.attribution.faithfulness import Protocol, evaluate_faithfulness
    from audit.attribution.quality import sample_indices
    from audit.demo import demo_splits

    transformers.logging.set_verbosity_error()
    torch.manual_seed(args.seed)
    bundle = load_model(args.model, num_labels=2, device=args.device, seed=args.seed)
    bundle.model.float()
    _, eval_data = demo_splits(seed=args.seed)
    idx = sample_indices(len(eval_data), args.n, args.seed)
    texts = [eval_data.texts[i] for i in idx]
    targets = bundle.predict_proba(texts).argmax(1).tolist()
    lengths = bundle.token_lengths(texts)
    print(f"model {bundle.source} on {bundle.device}; {len(texts)} texts, {min(lengths)}-{max(lengths)} tokens "
          f"(mean {np.mean(lengths):.1f}); torch threads {torch.get_num_threads()}")

    explainers = [IntegratedGradients(n_steps=129, method="adaptive_simpson"), SHAPText(max_evals=args.shap_max_evals, seed=args.seed),
                  Occlusion()]
    attributions = {}
    for e in explainers:
        t = time.perf_counter()
        attributions[e.name] = e.explain(bundle, texts, targets)
        print(f"explained with {e.name:<22} {time.perf_counter() - t:7.1f} s (not part of the comparison)")

    ferret_protocol = Protocol(bins=tuple(np.arange(0.1, 1.1, 0.1)), rounding="floor", positive_only=True, skip_repeats=True,
                               aopc="mean", correlation="kendall", curve_steps=1)
    ours_times = []
    for _ in range(max(args.repeat, 1)):
        _sync(bundle.device)
        t = time.perf_counter()
        ours = evaluate_faithfulness(bundle, attributions, ferret_protocol, n_boot=0)
        _sync(bundle.device)
        ours_times.append(time.perf_counter() - t)
    t_ours = float(np.median(ours_times))
    print(f"ours:   {t_ours:7.2f} s  median of {_runs(ours_times)} ({ours.n_sequences} perturbed inputs, "
          f"{ours.n_unique_sequences} distinct, scored in batches)")

    ferret = run_ferret(args, bundle, attributions)
    if ferret is None:
        return
    t_ferret = float(np.median(ferret["seconds"]))
    print(f"ferret: {t_ferret:7.2f} s  median of {_runs(ferret['seconds'])} (ferret-xai {ferret['versions']['ferret']}, "
          f"transformers {ferret['versions']['transformers']}, one explanation at a time)")
    print(f"ratio ferret / ours = {t_ferret / t_ours:.1f}x  (target >= 5x; fastest runs: {min(ferret['seconds']) / min(ours_times):.1f}x)")

    print("agreement per text, ferret's protocol (ours vs ferret):")
    print(f"{'method':<22}{'metric':<20}{'ours mean':>10}{'ferret mean':>12}{'max |diff|':>12}{'median |diff|':>14}{'texts':>7}{'fallback':>9}")
    names = {"comprehensiveness_aopc": "aopc_compr", "sufficiency_aopc": "aopc_suff", "loo_correlation": "taucorr_loo"}
    report = {"protocol": ferret_protocol.to_dict(), "seconds": {"ours": ours_times, "ferret": ferret["seconds"]},
              "ratio_of_medians": t_ferret / t_ours, "agreement": {}}
    k = 0
    for m in attributions:
        rows = ferret["results"][k : k + len(texts)]
        k += len(texts)
        for ours_key, ferret_key in names.items():
            a = ours.per_example[m][ours_key]
            b = [r[ferret_key] for r in rows]
            pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None and np.isfinite(y)]
            fallback = sum(1 for x in a if x is None)
            d = np.abs([x - y for x, y in pairs]) if pairs else np.array([np.nan])
            om = float(np.mean([x for x, _ in pairs])) if pairs else float("nan")
            fm = float(np.mean([y for _, y in pairs])) if pairs else float("nan")
            print(f"{m:<22}{ours_key:<20}{om:>10.4f}{fm:>12.4f}{d.max():>12.2e}{np.median(d):>14.2e}{len(pairs):>7}{fallback:>9}")
            report["agreement"][f"{m}/{ours_key}"] = {"ours_mean": om, "ferret_mean": fm, "max_abs_diff": float(d.max()),
                                                       "median_abs_diff": float(np.median(d)), "n": len(pairs), "fallback": fallback}

    eraser = evaluate_faithfulness(bundle, attributions, Protocol(), n_boot=0)
    print("the protocol alone (same attributions): comprehensiveness / sufficiency AOPC")
    print(f"{'method':<22}{'ferret protocol':>24}{'ERASER protocol':>24}")
    for m in attributions:
        f = ours.summary[m]
        e = eraser.summary[m]
        print(f"{m:<22}{f['comprehensiveness_aopc']['mean']:>11.3f} / {f['sufficiency_aopc']['mean']:<10.3f}"
              f"{e['comprehensiveness_aopc']['mean']:>11.3f} / {e['sufficiency_aopc']['mean']:<10.3f}")
    if args.json:
        report["eraser"] = {m: eraser.summary[m] for m in attributions}
        report["ferret_protocol"] = {m: ours.summary[m] for m in attributions}
        Path(args.json).write_text(json.dumps(report, indent=2, allow_nan=False, default=float))


def _runs(times: list[float]) -> str:
    return f"{len(times)} run{'s' if len(times) > 1 else ''}: " + ", ".join(f"{x:.2f}" for x in times)


def _sync(device: str) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def run_ferret(args, bundle, attributions):
    """ferret's faithfulness evaluators on the same token scores, in its own virtual environment."""
    import torch

    python = Path(args.ferret_python)
    if not python.is_file():
        print(f"ferret not run: no Python at {python}; create the environment as described in this file's docstring")
        return None
    model_dir = args.model
    if model_dir is None:
        tmp_model = tempfile.mkdtemp(prefix="bench-ferret-model-")
        bundle.save(tmp_model)
        model_dir = tmp_model
    items = [{"text": a.text, "tokens": a.tokens, "scores": a.token_scores, "method": m, "target": int(a.target)}
             for m, attrs in attributions.items() for a in attrs]
    with tempfile.TemporaryDirectory(prefix="bench-ferret-") as tmp:
        spec, out, script = Path(tmp, "spec.json"), Path(tmp, "out.json"), Path(tmp, "run_ferret.py")
        spec.write_text(json.dumps({"model": str(model_dir), "device": str(bundle.device), "threads": torch.get_num_threads(),
                                    "repeat": max(args.repeat, 1), "items": items}))
        script.write_text(FERRET_SCRIPT)
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        proc = subprocess.run([str(python), str(script), str(spec), str(out)], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(f"ferret failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
            return None
        return json.loads(out.read_text())


if __name__ == "__main__":
    sys.exit(main())
