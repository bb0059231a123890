"""Faithfulness evaluation: ours against ferret's (ferret-xai), on the same model, texts and attributions.

Integrated gradients, SHAP and occlusion explain ``--n`` demo texts (the predicted class) once
(not timed); every engine then evaluates exactly these token scores under ferret's protocol (bins
10%, 20%, ..., 100% of the sub-word tokens, int(k n) tokens, positive scores only, repeated sets
skipped, tokens deleted, AOPC = mean over the bins evaluated, Kendall tau with leave-one-out by
deletion):

* ``ours`` – ``audit.attribution.faithfulness.evaluate_faithfulness`` on all methods at once, as
  the audit runs it: every perturbed copy of every text for every method is collected, identical
  copies are scored once (the full text, leave-one-out copies and small removals are shared
  between methods), the rest in length-grouped, dynamically padded batches. Curves are cut to
  their two end points, which ferret lacks.
* ``ours per method`` – the same engine called once per method, so nothing is shared between
  methods. The speed-up over ferret splits into ``ferret / ours per method`` (batching, scoring
  token ids without decoding and re-tokenizing, duplicates within one method) times
  ``ours per method / ours`` (sharing across methods, a design choice of ours that ferret, which
  evaluates one explanation at a time, does not make).
* ``ferret`` – ferret's ``AOPC_Comprehensiveness_Evaluation``, ``AOPC_Sufficiency_Evaluation``
  and ``TauLOO_Evaluation`` as they are, one explanation at a time (ferret batches each call's
  perturbed texts by 8 itself). It runs in a subprocess with the Python of the virtual environment
  given by ``--ferret-python`` (default ``.bench/ferret-venv/bin/python``); ferret is never a
  dependency of this package. To create it::

      python -m venv .bench/ferret-venv
      .bench/ferret-venv/bin/pip install torch==2.13.0       # first, so pip keeps the CPU build
      .bench/ferret-venv/bin/pip install ferret-xai "pyarrow<18"

  (ferret-xai 0.4.2 pins NumPy 1.x, which current pyarrow wheels refuse.) The sequences ferret
  scores are counted by a forward hook on its model; ours are counted by the engine.

Every side gets the same warm-up run and the same ``--repeats`` timed runs, round-robin, so a
shared machine's drift slows every side alike (``benchmarks/_record.py``; ferret stays loaded in
its process and is told when to run); the median and interquartile range are printed, with the
threads (``--threads``, the same in both processes); on CUDA each run is bracketed by
``torch.cuda.synchronize()``.

Agreement, text by text, of comprehensiveness AOPC, sufficiency AOPC and the leave-one-out
correlation: the largest and the median absolute difference, with the number of texts compared
and of texts left out and why (no positive score: ferret falls back to 0 for comprehensiveness
and 1 for sufficiency, we report no value; a rank correlation undefined on one side). The values
differ where ferret decodes the perturbed token ids back to text and re-tokenizes it (a word
piece left alone can tokenize differently) and where scores tie (word-level methods give every
piece of a word the same score; ferret breaks ties in reverse ``argsort`` order, we keep text
order). Finally the same attributions under the ERASER protocol (bins 1, 5, 10, 20, 50%, at
least one token, signed ranking, AOPC = sum / (bins + 1)) show how much the protocol alone moves
the numbers. ``--record`` writes everything, every repeat included, to ``benchmarks/results/``.

    python benchmarks/bench_faithfulness.py --model demo-out/models/baseline
    python benchmarks/bench_faithfulness.py --model demo-out/models/baseline --n 12 --repeats 3 --threads 1 --record
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

FERRET_SCRIPT = r'''
import json, sys, time
proto, sys.stdout = sys.stdout, sys.stderr  # the protocol owns stdout; anything a library prints goes to stderr
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
count = {"sequences": 0, "passes": 0}

def counter(module, args, kwargs):
    ids = kwargs.get("input_ids", args[0] if args else None)
    count["sequences"] += int(ids.shape[0])
    count["passes"] += 1

model.register_forward_pre_hook(counter, with_kwargs=True)
items = spec["items"]

def sync():
    if str(spec["device"]).startswith("cuda"):
        torch.cuda.synchronize()

def run():
    out = []
    for it in items:
        e = Explanation(it["text"], it["tokens"], np.asarray(it["scores"]), it["method"], it["target"])
        out.append({ev.SHORT_NAME: float(ev.compute_evaluation(e, it["target"]).score) for ev in evaluators})
    return out

def say(obj):
    proto.write(json.dumps(obj) + "\n")
    proto.flush()

import importlib.metadata as md
say({"ready": True, "versions": {"ferret-xai": md.version("ferret-xai"), "torch": torch.__version__,
     "transformers": md.version("transformers"), "numpy": np.__version__}})
last = None
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "run":
        count["sequences"] = count["passes"] = 0
        sync()
        t = time.perf_counter()
        last = run()
        sync()
        say({"seconds": time.perf_counter() - t, **count})
    elif cmd == "results":
        json.dump(last, open(sys.argv[2], "w"))
        say({"written": sys.argv[2]})
    elif cmd == "quit":
        break
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (a fine-tuned checkpoint; default: the embedded backbone)")
    ap.add_argument("--n", type=int, default=100, help="number of demo texts")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shap-max-evals", type=int, default=200)
    ap.add_argument("--ferret-python", default=str(REPO / ".bench" / "ferret-venv" / "bin" / "python"))
    ap.add_argument("--repeats", type=int, default=_record.MIN_REPEATS, help="timed runs per side (>= 10 for sub-second work)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads, the same for ferret (default: torch's)")
    _record.add_record_argument(ap)
    args = ap.parse_args()

    import torch
    import transformers

    from audit import load_model
    from audit.attribution.quality import sample_indices
    from audit.demo import demo_splits

    transformers.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    torch.manual_seed(args.seed)
    rec = _record.Recorder("bench_faithfulness", args)
    bundle = load_model(args.model, num_labels=2, device=args.device, seed=args.seed)
    bundle.model.float()
    _, eval_data = demo_splits(seed=args.seed)
    idx = sample_indices(len(eval_data), args.n, args.seed)
    texts = [eval_data.texts[i] for i in idx]
    targets = bundle.predict_proba(texts).argmax(1).tolist()
    lengths = bundle.token_lengths(texts)
    cuda = str(bundle.device).startswith("cuda")
    rec.print(f"model {bundle.source} on {bundle.device}; {len(texts)} texts, {min(lengths)}-{max(lengths)} tokens "
              f"(mean {np.mean(lengths):.1f})")
    rec.print(f"torch threads {args.threads} intra-op in both processes; timing: {args.warmup} warm-up + {args.repeats} timed runs "
              "per side, round-robin; " + ("CUDA synchronised before and after each run" if cuda else "CPU (no device synchronisation needed)"))
    rec.add("model", _record.model_identity(bundle, args.model))
    rec.add("load_average_at_start", os.getloadavg())
    attributions = explain(rec, bundle, texts, targets, args)
    compare(rec, bundle, attributions, args)
    rec.add("load_average_at_end", os.getloadavg())
    rec.print(f"machine load average (1, 5, 15 min) at start {_record.fmt_load(rec.data['load_average_at_start'])}, at end {_record.fmt_load(os.getloadavg())}")
    rec.save()


def explain(rec, bundle, texts, targets, args) -> dict:
    from audit.attribution import IntegratedGradients, Occlusion, SHAPText

    explainers = [IntegratedGradients(n_steps=129, method="adaptive_simpson"), SHAPText(max_evals=args.shap_max_evals, seed=args.seed),
                  Occlusion()]
    attributions = {}
    for e in explainers:
        t = time.perf_counter()
        attributions[e.name] = e.explain(bundle, texts, targets)
        rec.print(f"explained with {e.name:<22} {time.perf_counter() - t:7.1f} s (not part of the comparison)")
    return attributions


def ferret_protocol():
    from audit.attribution.faithfulness import Protocol

    return Protocol(bins=tuple(np.arange(0.1, 1.1, 0.1)), rounding="floor", positive_only=True, skip_repeats=True,
                    aopc="mean", correlation="kendall", curve_steps=1)


def compare(rec, bundle, attributions, args) -> None:
    from audit.attribution.faithfulness import Protocol, evaluate_faithfulness

    protocol = ferret_protocol()
    rec.add("protocol", protocol.to_dict())
    fns = {
        "ours": lambda: evaluate_faithfulness(bundle, attributions, protocol, n_boot=0),
        "ours per method": lambda: {m: evaluate_faithfulness(bundle, {m: a}, protocol, n_boot=0) for m, a in attributions.items()},
    }
    ferret = FerretProcess.start(rec, args, bundle, attributions)
    if ferret is not None:
        fns["ferret"] = ferret.run
    try:
        timing, last = _record.time_interleaved(fns, repeats=args.repeats, warmup=args.warmup, device=str(bundle.device))
        _record.check_repeats(rec, timing, args.repeats)
        ferret_values = ferret.results() if ferret is not None else None
    finally:
        if ferret is not None:
            ferret.close()
    ours, per_method = last["ours"], last["ours per method"]
    counts = {"ours": {"perturbed_inputs": ours.n_sequences, "scored": ours.n_unique_sequences},
              "ours per method": {"perturbed_inputs": sum(r.n_sequences for r in per_method.values()),
                                  "scored": sum(r.n_unique_sequences for r in per_method.values())}}
    if ferret is not None:
        counts["ferret"] = {"scored": last["ferret"]["sequences"], "forward_passes": last["ferret"]["passes"]}
    rec.add("timing", timing)
    rec.add("sequences", counts)
    rec.print("evaluation only (explanations excluded); sequences = model inputs scored in forward passes")
    rec.print(f"{'engine':<18}{'s/run':>24}{'sequences scored':>18}{'forward passes':>16}")
    for name, t in timing.items():
        passes = counts[name].get("forward_passes", "batched")
        rec.print(f"{name:<18}{_record.fmt_time(t, 1, 's'):>24}{counts[name]['scored']:>18}{passes:>16}")
    rec.print(f"ours enumerates {ours.n_sequences} perturbed inputs for all methods and scores {ours.n_unique_sequences} distinct ones; "
              f"per method, without sharing across methods, {counts['ours per method']['scored']}")
    med = {k: v["median_s"] for k, v in timing.items()}
    ratios = {"ours_per_method_over_ours": med["ours per method"] / med["ours"]}
    if ferret is not None:
        ratios |= {"ferret_over_ours": med["ferret"] / med["ours"], "ferret_over_ours_per_method": med["ferret"] / med["ours per method"],
                   "ferret_sequences_over_ours": counts["ferret"]["scored"] / ours.n_unique_sequences,
                   "ferret_sequences_over_ours_per_method": counts["ferret"]["scored"] / counts["ours per method"]["scored"]}
        rec.print(f"ferret / ours = {ratios['ferret_over_ours']:.2f}x = {ratios['ferret_over_ours_per_method']:.2f}x (ferret / ours per method: "
                  f"batching, token ids scored directly) x {ratios['ours_per_method_over_ours']:.2f}x (ours per method / ours: "
                  "each distinct sequence scored once across methods)")
        rec.print(f"sequences scored: ferret {counts['ferret']['scored']}, ours per method {counts['ours per method']['scored']}, "
                  f"ours {ours.n_unique_sequences} ({ratios['ferret_sequences_over_ours']:.2f}x fewer than ferret)")
        rec.add("agreement", agreement(rec, attributions, ours, ferret_values))
    else:
        rec.print(f"ours per method / ours = {ratios['ours_per_method_over_ours']:.2f}x (sharing across methods)")
    rec.add("ratios", ratios)

    eraser = evaluate_faithfulness(bundle, attributions, Protocol(), n_boot=0)
    rec.print("the protocol alone (same attributions): comprehensiveness / sufficiency AOPC")
    rec.print(f"{'method':<22}{'ferret protocol':>24}{'ERASER protocol':>24}")
    for m in attributions:
        f, e = ours.summary[m], eraser.summary[m]
        rec.print(f"{m:<22}{f['comprehensiveness_aopc']['mean']:>11.3f} / {f['sufficiency_aopc']['mean']:<10.3f}"
                  f"{e['comprehensiveness_aopc']['mean']:>11.3f} / {e['sufficiency_aopc']['mean']:<10.3f}")
    rec.add("summary", {"ferret_protocol": {m: ours.summary[m] for m in attributions}, "eraser": {m: eraser.summary[m] for m in attributions}})


NAMES = {"comprehensiveness_aopc": "aopc_compr", "sufficiency_aopc": "aopc_suff", "loo_correlation": "taucorr_loo"}


def agreement(rec, attributions, ours, ferret_values) -> dict:
    """Text-by-text absolute differences per method and metric, with the texts left out and why."""
    n = len(next(iter(attributions.values())))
    rec.print("agreement per text, ours vs ferret (ferret's protocol):")
    rec.print(f"{'method':<22}{'metric':<24}{'ours mean':>10}{'ferret mean':>12}{'max |diff|':>12}{'median |diff|':>14}"
              f"{'compared':>10}{'left out':>10}")
    report, all_diffs, left = {}, [], {}
    for k, m in enumerate(attributions):
        rows = ferret_values[k * n : (k + 1) * n]
        for ours_key, ferret_key in NAMES.items():
            pairs, why = [], {}
            for x, row in zip(ours.per_example[m][ours_key], rows):
                y = row[ferret_key]
                reason = leave_out_reason(ours_key, x, y)
                if reason:
                    why[reason] = why.get(reason, 0) + 1
                else:
                    pairs.append((float(x), float(y)))
            d = np.abs([x - y for x, y in pairs]) if pairs else np.array([np.nan])
            all_diffs += d.tolist() if pairs else []
            for r, c in why.items():
                left[r] = left.get(r, 0) + c
            om = float(np.mean([x for x, _ in pairs])) if pairs else float("nan")
            fm = float(np.mean([y for _, y in pairs])) if pairs else float("nan")
            rec.print(f"{m:<22}{ours_key:<24}{om:>10.4f}{fm:>12.4f}{d.max():>12.2e}{np.median(d):>14.2e}{len(pairs):>10}"
                      f"{sum(why.values()):>10}")
            report[f"{m}/{ours_key}"] = {"ours_mean": om, "ferret_mean": fm, "max_abs_diff": float(d.max()) if pairs else None,
                                          "median_abs_diff": float(np.median(d)) if pairs else None, "compared": len(pairs),
                                          "left_out": why}
    total = len(all_diffs) + sum(left.values())
    overall = {"compared": len(all_diffs), "left_out": left, "total": total,
               "max_abs_diff": float(np.max(all_diffs)) if all_diffs else None,
               "median_abs_diff": float(np.median(all_diffs)) if all_diffs else None}
    reasons = "; ".join(f"{c} {r}" for r, c in left.items()) or "none"
    if all_diffs:
        rec.print(f"overall: {len(all_diffs)} of {total} (text, method, metric) values compared: max |diff| {overall['max_abs_diff']:.2e}, "
                  f"median {overall['median_abs_diff']:.2e}; left out: {reasons}")
    report["overall"] = overall
    return report


def leave_out_reason(metric: str, ours_value, ferret_value) -> str | None:
    if metric != "loo_correlation" and ours_value is None:
        return "no positive score (ferret falls back to a default)"
    if ours_value is None or ferret_value is None or not np.isfinite(ferret_value):
        return "rank correlation undefined on one side (constant scores)"
    return None


class FerretProcess:
    """ferret's evaluators loaded once in their own virtual environment, run on request over a pipe."""

    def __init__(self, proc, tmp, err_path, out_path, hello):
        self.proc, self.tmp, self.err_path, self.out_path, self.hello = proc, tmp, err_path, out_path, hello

    @classmethod
    def start(cls, rec, args, bundle, attributions):
        import torch

        python = Path(args.ferret_python)
        if not python.is_file():
            rec.print(f"ferret not run: no Python at {python}; create the environment as described in this file's docstring")
            return None
        tmp = tempfile.TemporaryDirectory(prefix="bench-ferret-")
        model_dir = args.model
        if model_dir is None:
            model_dir = str(Path(tmp.name, "model"))
            bundle.save(model_dir)
        items = [{"text": a.text, "tokens": a.tokens, "scores": a.token_scores, "method": m, "target": int(a.target)}
                 for m, attrs in attributions.items() for a in attrs]
        spec, out, script, err = (Path(tmp.name, p) for p in ("spec.json", "out.json", "run_ferret.py", "stderr.txt"))
        spec.write_text(json.dumps({"model": str(model_dir), "device": str(bundle.device), "threads": torch.get_num_threads(),
                                    "items": items}))
        script.write_text(FERRET_SCRIPT)
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        with open(err, "w") as err_file:
            proc = subprocess.Popen([str(python), str(script), str(spec), str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err_file, text=True, env=env)
        self = cls(proc, tmp, err, out, None)
        try:
            self.hello = self._read()
        except RuntimeError as e:
            rec.print(f"ferret not run: {e}")
            self.close()
            return None
        rec.add("ferret_versions", self.hello["versions"])
        v = self.hello["versions"]
        rec.print(f"ferret: ferret-xai {v['ferret-xai']}, transformers {v['transformers']}, torch {v['torch']}, numpy {v['numpy']} "
                  f"(in {python.parent.parent})")
        return self

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=60)
            tail = Path(self.err_path).read_text()[-3000:]
            raise RuntimeError(f"the ferret process exited ({self.proc.returncode}):\n{tail}")
        return json.loads(line)

    def _ask(self, cmd: str) -> dict:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()

    def run(self) -> dict:
        return self._ask("run")

    def results(self) -> list[dict]:
        self._ask("results")
        return json.loads(Path(self.out_path).read_text())

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
