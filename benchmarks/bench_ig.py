"""Integrated gradients: accuracy per token and time, captum run well against our engines.

Every row explains the same held-out texts of one model towards the same class, on the same
path (the input word embeddings, from the pad baseline with [CLS]/[SEP] kept, to the text) and the
same output (the class logit by default, ``--output probability`` for the softmax):

* ``captum batched@N`` – captum's ``LayerIntegratedGradients`` on the input-embedding layer, as
  its users run it well: texts sorted by token length and cut into batches of ``--batch`` texts,
  each padded to its own longest text with the attention mask passed, ``internal_batch_size`` set
  to the rows that fit ``--max-tokens`` padded tokens (the token budget our engines use), N
  Gauss-Legendre steps;
* ``captum loop@N`` – the same call one text at a time, all steps in one pass (how most examples
  call it), kept as a second row so the batching gain is visible as captum's own;
* ``ours fixed@N`` – ``audit.IntegratedGradients(method="gausslegendre")``, captum's rule with our
  length grouping; its attributions must match captum's to 1e-5 (checked, not timed);
* ``ours adaptive@tol`` – ``method="adaptive_simpson"``: steps per text until the text's
  completeness error is within ``tol`` of ``|f(x) - f(baseline)|``.

Accuracy is measured against a converged reference, not against the adaptive rule's own stopping
statistic (a signed sum over tokens, whose errors can cancel): integrated gradients computed in
this file by a plain autograd loop, one text at a time, with the composite Simpson rule on
``--ref-steps + 1`` equally spaced points (512 intervals by default), independent of captum and of
the engines compared. A fine-tuned classifier's output swings within a narrow stretch of the path,
so the reference uses many evenly spread points rather than a high-order rule. Its convergence is
checked against the same rule on every second point (no extra passes): the largest per-token
difference is printed and must lie well below the errors reported (a warning is printed
otherwise). The error of a token is ``|a_i - r_i| / sum_j |r_j|`` (the text's reference
attributions' L1 norm; special tokens left out); the median, 95th percentile and maximum over
all tokens of all held-out texts are printed for every row, with the median completeness error
``|sum_i a_i - (f(x) - f(baseline))| / |f(x) - f(baseline)|`` for comparison.

Equal accuracy is decided on other texts than it is scored on. The demo evaluation texts are
shuffled (``--seed``); the first ``--n-tune`` are the tuning split, the next ``--n`` the held-out
split. The target is the 95th-percentile token error of ``captum batched@50`` on the tuning split
(the usual call). On the tuning split only, the adaptive tolerance is the largest in
``--tolerances`` whose 95th percentile meets the target, and captum's step count the smallest in
``--step-grid`` that does; both are then timed and scored on the held-out texts. The default
tolerance (0.01) is always a row of its own. Each speed ratio printed is followed by whether it
holds at equal held-out accuracy (95th percentile and maximum token error), in words.

Timing (``benchmarks/_record.py``): every row gets the same warm-up run and the same ``--repeats``
timed runs, run round-robin so a shared machine's drift slows every row alike; the median and the
interquartile range are printed; threads are set with ``--threads`` and stated; on CUDA each run
is bracketed by ``torch.cuda.synchronize()``. ``--record`` writes everything, every repeat
included, to ``benchmarks/results/``.

Use a fine-tuned model: an untrained head gives a nearly linear path that any rule integrates.
``audit demo`` writes one to ``<out>/models/baseline``.

    python benchmarks/bench_ig.py --model demo-out/models/baseline
    python benchmarks/bench_ig.py --model demo-out/models/baseline --n 8 --n-tune 8 --repeats 3 --threads 1 --record
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _record  # noqa: E402

DEFAULT_TOLERANCE = 0.01


def _select(logits, output: str):
    return torch.softmax(logits, -1) if output == "probability" else logits


def encode_one(bundle, text: str):
    """(input ids, attention mask, special-token mask) of one text, unpadded, on the bundle's device."""
    enc = bundle.tokenizer(text, return_tensors="pt", return_special_tokens_mask=True, truncation=True,
                           max_length=bundle.max_length)
    return (enc["input_ids"].to(bundle.device), enc["attention_mask"].to(bundle.device),
            enc["special_tokens_mask"].bool().to(bundle.device))


def captum_loop(bundle, texts, targets, n_steps: int, output: str) -> list[np.ndarray]:
    """LayerIntegratedGradients one text at a time, all steps in one pass."""
    from captum.attr import LayerIntegratedGradients

    model, pad = bundle.model, bundle.tokenizer.pad_token_id
    lig = LayerIntegratedGradients(lambda ids, mask: _select(model(input_ids=ids, attention_mask=mask).logits, output),
                                   model.get_input_embeddings())
    out = []
    for text, target in zip(texts, targets):
        ids, mask, special = encode_one(bundle, text)
        base = torch.where(special, ids, torch.full_like(ids, pad))
        attr = lig.attribute(ids, baselines=base, target=int(target), additional_forward_args=(mask,),
                             n_steps=n_steps, method="gausslegendre", internal_batch_size=n_steps)
        out.append(attr.sum(-1)[0].detach().double().cpu().numpy())
    return out


def captum_batched(bundle, texts, targets, n_steps: int, output: str, batch: int, max_tokens: int) -> list[np.ndarray]:
    """LayerIntegratedGradients on length-sorted batches, each padded to its longest text."""
    from captum.attr import LayerIntegratedGradients

    tok, model, pad = bundle.tokenizer, bundle.model, bundle.tokenizer.pad_token_id
    lig = LayerIntegratedGradients(lambda ids, mask: _select(model(input_ids=ids, attention_mask=mask).logits, output),
                                   model.get_input_embeddings())
    lengths = [len(ids) for ids in tok(list(texts), truncation=True, max_length=bundle.max_length)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    out: list[np.ndarray | None] = [None] * len(texts)
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                  max_length=bundle.max_length, return_special_tokens_mask=True)
        ids, mask = enc["input_ids"].to(bundle.device), enc["attention_mask"].to(bundle.device)
        special = enc["special_tokens_mask"].bool().to(bundle.device)  # padding counts as special
        base = torch.where(special, ids, torch.full_like(ids, pad))
        rows = max(len(idx), max_tokens // ids.shape[1])
        attr = lig.attribute(ids, baselines=base, target=[int(targets[i]) for i in idx], additional_forward_args=(mask,),
                             n_steps=n_steps, method="gausslegendre", internal_batch_size=rows)
        scores = attr.sum(-1).detach().double().cpu().numpy()
        keep = mask.bool().cpu().numpy()
        for r, i in enumerate(idx):
            out[i] = scores[r][keep[r]]
    return out  # type: ignore[return-value]


def ours(bundle, texts, targets, output: str, **kw) -> list:
    """``audit.IntegratedGradients`` on the same texts and targets (Attribution objects)."""
    from audit import IntegratedGradients

    return IntegratedGradients(output=output, **kw).explain(bundle, texts, list(map(int, targets)))


def reference(bundle, texts, targets, n_intervals: int, output: str, chunk: int = 256) -> dict:
    """Integrated gradients by a plain autograd loop, one text at a time, on ``n_intervals + 1`` equally spaced points.

    The composite Simpson rule on all the points is the reference ("fine"); the same rule on every
    second point ("coarse", no extra passes) checks its convergence. Returns both, f(x), f(baseline)
    and the special-token masks.
    """
    if n_intervals % 4:
        raise SystemExit(f"--ref-steps must be a multiple of 4 (Simpson on it and on its half), got {n_intervals}")
    model, pad = bundle.model, bundle.tokenizer.pad_token_id
    emb = model.get_input_embeddings()
    alphas = np.linspace(0.0, 1.0, n_intervals + 1)
    out = {"fine": [], "coarse": [], "f_x": [], "f_b": [], "special": []}
    for text, target in zip(texts, targets):
        ids, mask, special = encode_one(bundle, text)
        with torch.no_grad():
            x = emb(ids)
            b = emb(torch.where(special, ids, torch.full_like(ids, pad)))
        diff = (x - b)[0]
        rows, values = [], []
        for s in range(0, len(alphas), chunk):
            a = torch.tensor(alphas[s : s + chunk], dtype=x.dtype, device=ids.device)
            point = (b + a[:, None, None] * diff).requires_grad_(True)
            chosen = _select(model(inputs_embeds=point, attention_mask=mask.expand(len(a), -1)).logits, output)[:, int(target)]
            (grad,) = torch.autograd.grad(chosen.sum(), point)
            rows.append((grad * diff).sum(-1).double().cpu().numpy())
            values.append(chosen.detach().double().cpu().numpy())
        g = np.concatenate(rows)
        f = np.concatenate(values)
        out["fine"].append(_simpson(g))
        out["coarse"].append(_simpson(g[::2]))
        out["f_x"].append(float(f[-1]))
        out["f_b"].append(float(f[0]))
        out["special"].append(special[0].cpu().numpy())
    return out


def _simpson(g: np.ndarray) -> np.ndarray:
    """Composite Simpson rule on [0, 1] over equally spaced rows of ``g`` (an odd number of them)."""
    w = np.ones(len(g))
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return (w[:, None] * g).sum(0) / (3.0 * (len(g) - 1))


def token_errors(scores: list[np.ndarray], ref: dict) -> np.ndarray:
    """Per-token |a - r| / ||r||_1 of every text (special tokens left out), all texts pooled."""
    errs = []
    for a, r, sp in zip(scores, ref["fine"], ref["special"]):
        a = np.asarray(a, dtype=np.float64)
        if a.shape != r.shape:
            raise ValueError(f"{a.shape[0]} attributions for a text of {r.shape[0]} tokens")
        keep = ~sp
        errs.append(np.abs(a[keep] - r[keep]) / max(np.abs(r[keep]).sum(), 1e-300))
    return np.concatenate(errs)


def accuracy(scores: list[np.ndarray], ref: dict) -> dict:
    e = token_errors(scores, ref)
    comp = [abs(float(np.sum(a)) - (fx - fb)) / max(abs(fx - fb), 1e-300) for a, fx, fb in zip(scores, ref["f_x"], ref["f_b"])]
    return {"median": float(np.median(e)), "p95": float(np.percentile(e, 95)), "max": float(e.max()), "tokens": int(e.size),
            "median_completeness": float(np.median(comp))}


def scores_of(result) -> list[np.ndarray]:
    """Token scores from our Attribution objects or captum's arrays."""
    return [np.asarray(r.token_scores if hasattr(r, "token_scores") else r, dtype=np.float64) for r in result]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (a fine-tuned checkpoint; default: the embedded backbone, fresh head)")
    ap.add_argument("--n", type=int, default=8, help="held-out texts (timed and scored)")
    ap.add_argument("--n-tune", type=int, default=8, help="tuning texts (the tolerance and captum's step count are chosen on these)")
    ap.add_argument("--steps", type=int, default=50, help="the usual fixed step count")
    ap.add_argument("--step-grid", type=int, nargs="+", default=[8, 12, 16, 20, 24, 32, 40, 50],
                    help="captum step counts tried on the tuning split (fewest first)")
    ap.add_argument("--tolerances", type=float, nargs="+", default=[1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001],
                    help="adaptive tolerances tried on the tuning split (largest first)")
    ap.add_argument("--max-steps", type=int, default=257, help="most points the adaptive engine may use per text")
    ap.add_argument("--ref-steps", type=int, default=512, help="intervals of the reference's composite Simpson rule (checked against half as many)")
    ap.add_argument("--output", default="logit", choices=["logit", "probability"], help="explained output, the same for every row")
    ap.add_argument("--batch", type=int, default=None, help="texts per captum batch (default 16 on CPU, 64 on CUDA)")
    ap.add_argument("--max-tokens", type=int, default=None, help="padded tokens per pass for captum's internal_batch_size (default: ours, 8192 on CPU, 262144 on CUDA)")
    ap.add_argument("--repeats", type=int, default=_record.MIN_REPEATS, help="timed runs per row (>= 10 for sub-second work)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="model precision")
    _record.add_record_argument(ap)
    args = ap.parse_args()

    import transformers

    from audit import load_model
    from audit.demo import demo_splits

    transformers.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rec = _record.Recorder("bench_ig", args)
    bundle = load_model(args.model, num_labels=2, device=args.device, seed=args.seed)
    bundle.model.to(getattr(torch, args.dtype)).eval()
    cuda = str(bundle.device).startswith("cuda")
    args.batch = args.batch or (64 if cuda else 16)
    args.max_tokens = args.max_tokens or (262_144 if cuda else 8_192)
    _, eval_data = demo_splits(seed=args.seed)
    order = np.random.default_rng(args.seed).permutation(len(eval_data))
    tune_idx, held_idx = order[: args.n_tune].tolist(), order[args.n_tune : args.n_tune + args.n].tolist()
    tune = [eval_data.texts[i] for i in tune_idx]
    held = [eval_data.texts[i] for i in held_idx]
    t_tune = bundle.predict_proba(tune).argmax(1).tolist()
    t_held = bundle.predict_proba(held).argmax(1).tolist()
    check_baseline(bundle, held)
    lengths = bundle.token_lengths(held)
    rec.add("splits", {"tuning": tune_idx, "held_out": held_idx})
    rec.add("model", _record.model_identity(bundle, args.model))
    rec.add("load_average_at_start", os.getloadavg())
    rec.print(f"model {bundle.source} ({args.dtype}) on {bundle.device}; explained output: {args.output} of the predicted class; "
              f"held-out {len(held)} texts, {min(lengths)}-{max(lengths)} tokens (mean {np.mean(lengths):.1f}); tuning {len(tune)} other texts")
    rec.print(f"torch threads {torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op; "
              f"timing: {args.warmup} warm-up + {args.repeats} timed runs per row, round-robin; "
              + ("CUDA synchronised before and after each run" if cuda else "CPU (no device synchronisation needed)"))

    run = {
        "captum_batched": lambda texts, tg, n: captum_batched(bundle, texts, tg, n, args.output, args.batch, args.max_tokens),
        "captum_loop": lambda texts, tg, n: captum_loop(bundle, texts, tg, n, args.output),
        "fixed": lambda texts, tg, n: ours(bundle, texts, tg, args.output, n_steps=n, method="gausslegendre"),
        "adaptive": lambda texts, tg, tol: ours(bundle, texts, tg, args.output, n_steps=args.max_steps,
                                                method="adaptive_simpson", tolerance=tol),
    }

    t = time.perf_counter()
    ref_tune = reference(bundle, tune, t_tune, args.ref_steps, args.output)
    ref_held = reference(bundle, held, t_held, args.ref_steps, args.output)
    conv = convergence(ref_tune, ref_held)
    rec.add("reference", {"rule": "composite Simpson on equally spaced points, plain autograd, one text at a time",
                          "intervals": args.ref_steps, "check_intervals": args.ref_steps // 2, "check_max_token_difference": conv,
                          "seconds": time.perf_counter() - t})
    rec.print(f"reference: composite Simpson on {args.ref_steps + 1} equally spaced points ({time.perf_counter() - t:.0f} s); "
              f"against every second point: largest token difference {conv:.1e} of the text's L1 norm")

    chosen = tune_settings(rec, run, tune, t_tune, ref_tune, args)
    usual_c, usual_a = f"captum batched@{args.steps}", f"ours adaptive@{DEFAULT_TOLERANCE:g} (default)"
    rows = [(f"captum loop@{args.steps}", "captum_loop", args.steps), (usual_c, "captum_batched", args.steps)]
    tuned = {"captum": usual_c, "adaptive": usual_a}  # a tuned setting equal to a usual row is that row
    if chosen["steps"] != args.steps:
        tuned["captum"] = f"captum batched@{chosen['steps']} (tuned)"
        rows.append((tuned["captum"], "captum_batched", chosen["steps"]))
    if chosen["tolerance"] != DEFAULT_TOLERANCE:
        tuned["adaptive"] = f"ours adaptive@{chosen['tolerance']:g} (tuned)"
        rows.append((tuned["adaptive"], "adaptive", chosen["tolerance"]))
    rows.append((usual_a, "adaptive", DEFAULT_TOLERANCE))
    fns = {label: (lambda kind=kind, setting=setting: run[kind](held, t_held, setting)) for label, kind, setting in rows}
    timing, results = _record.time_interleaved(fns, repeats=args.repeats, warmup=args.warmup, device=str(bundle.device))
    _record.check_repeats(rec, timing, args.repeats)
    fixed = run["fixed"](held, t_held, args.steps)
    agreement = max(float(np.linalg.norm(a - c) / max(np.linalg.norm(c), 1e-300))
                    for a, c in zip(scores_of(fixed), scores_of(results[usual_c])))

    table = {}

    def err(value: float, width: int) -> str:  # below the reference's own convergence check, an error is not resolved
        return f"{'<%.0e' % conv if value < conv else '%.1e' % value:>{width}}"

    rec.print(f"held-out texts ({len(held)}, {sum(int((~s).sum()) for s in ref_held['special'])} tokens): "
              "token error = |a - ref| / text's L1 norm (<x: below the reference's check); time = median [interquartile range] of the whole set")
    rec.print(f"{'engine':<30}{'s/set':>22}{'ms/text':>9}{'steps/text':>11}{'median err':>11}{'p95 err':>10}{'max err':>10}{'compl. err':>11}")
    for label, kind, setting in rows:
        acc = accuracy(scores_of(results[label]), ref_held)
        steps = (float(np.mean([r.info["n_steps"] for r in results[label]])) if kind == "adaptive" else float(setting))
        table[label] = {"time": timing[label], "accuracy": acc, "mean_steps": steps, "kind": kind, "setting": setting}
        s = timing[label]
        rec.print(f"{label:<30}{_record.fmt_time(s, 1, 's'):>22}{1e3 * s['median_s'] / len(held):>9.1f}{steps:>11.1f}"
                  f"{err(acc['median'], 11)}{err(acc['p95'], 10)}{err(acc['max'], 10)}{acc['median_completeness']:>11.1e}")
    acc_fixed = accuracy(scores_of(fixed), ref_held)
    rec.print(f"{'ours fixed@%d (untimed)' % args.steps:<30}{'-':>22}{'-':>9}{float(args.steps):>11.1f}{err(acc_fixed['median'], 11)}"
              f"{err(acc_fixed['p95'], 10)}{err(acc_fixed['max'], 10)}{acc_fixed['median_completeness']:>11.1e}")
    rec.print(f"ours fixed@{args.steps} vs captum batched@{args.steps}: largest relative difference {agreement:.1e} (must be <= 1e-5)")
    rec.add("rows", table)
    rec.add("ours_fixed", {"accuracy": acc_fixed, "max_relative_difference_to_captum": agreement})
    headline(rec, table, tuned, usual_c, usual_a, args)
    if conv > 0.1 * min(v["accuracy"]["p95"] for v in table.values()):
        rec.print(f"WARNING: the reference's convergence check ({conv:.1e}) is not well below every 95th percentile; raise --ref-steps")
    rec.add("load_average_at_end", os.getloadavg())
    rec.print(f"machine load average (1, 5, 15 min) at start {_record.fmt_load(rec.data['load_average_at_start'])}, at end {_record.fmt_load(os.getloadavg())}")
    rec.save()


def check_baseline(bundle, texts) -> None:
    """The rows share a baseline only when ours uses the pad token as it is (see IntegratedGradients.baseline_embeddings)."""
    from audit import IntegratedGradients

    _, _, special = encode_one(bundle, texts[0])
    if bool(IntegratedGradients().mean_baseline_rows(bundle, special).any()):
        raise SystemExit(f"{bundle.source}: our pad baseline is replaced by the mean embedding for this model, "
                         "so captum's pad baseline would differ; pick a model whose pad embedding is used as it is")


def convergence(*refs: dict) -> float:
    return max(float(np.max(np.abs(f - c)[~sp]) / max(np.abs(f[~sp]).sum(), 1e-300))
               for ref in refs for f, c, sp in zip(ref["fine"], ref["coarse"], ref["special"]))


def tune_settings(rec, run, tune, t_tune, ref_tune, args) -> dict:
    """captum's fewest steps and our largest tolerance whose tuning p95 token error meets captum batched@steps'."""
    usual = accuracy(scores_of(run["captum_batched"](tune, t_tune, args.steps)), ref_tune)
    target = usual["p95"]
    rec.print(f"tuning split ({len(tune)} texts): target = captum batched@{args.steps}'s 95th-percentile token error {target:.2e}")
    tried = {"captum_batched": {args.steps: usual}, "adaptive": {}}
    steps = args.steps
    for n in sorted(s for s in args.step_grid if s < args.steps):
        acc = tried["captum_batched"][n] = accuracy(scores_of(run["captum_batched"](tune, t_tune, n)), ref_tune)
        rec.print(f"  captum batched@{n:<6} p95 {acc['p95']:.2e}")
        if acc["p95"] <= target:
            steps = n
            break
    tolerance = None
    for tol in sorted(args.tolerances, reverse=True):
        res = run["adaptive"](tune, t_tune, tol)
        acc = tried["adaptive"][tol] = accuracy(scores_of(res), ref_tune) | {"mean_steps": float(np.mean([r.info["n_steps"] for r in res]))}
        rec.print(f"  adaptive@{tol:<8g} p95 {acc['p95']:.2e}  mean steps {acc['mean_steps']:.1f}")
        if acc["p95"] <= target:
            tolerance = tol
            break
    if tolerance is None:
        tolerance = min(args.tolerances)
        rec.print(f"  no tolerance met the target; the tightest ({tolerance:g}) is used")
    rec.print(f"  chosen: captum batched@{steps}, adaptive@{tolerance:g}")
    rec.add("tuning", {"target_p95": target, "tried": {k: {str(s): v for s, v in d.items()} for k, d in tried.items()},
                       "captum_steps": steps, "tolerance": tolerance})
    return {"steps": steps, "tolerance": tolerance}


def headline(rec, table, tuned, usual_c, usual_a, args) -> None:
    batched = table[usual_c]["time"]["median_s"]
    tuned_c, tuned_a, default = table[tuned["captum"]], table[tuned["adaptive"]], table[usual_a]
    ratios = {
        "captum_loop_over_batched": table[f"captum loop@{args.steps}"]["time"]["median_s"] / batched,
        "captum_batched_tuned_over_adaptive_tuned": tuned_c["time"]["median_s"] / tuned_a["time"]["median_s"],
        "captum_batched_usual_over_adaptive_default": batched / default["time"]["median_s"],
    }
    rec.add("ratios", ratios)
    rec.print(f"captum's own batching: loop / batched at {args.steps} steps = {ratios['captum_loop_over_batched']:.2f}x")
    rec.print(f"at the accuracy chosen on the tuning split: captum batched@{tuned_c['setting']} / ours adaptive@{tuned_a['setting']:g} = "
              f"{ratios['captum_batched_tuned_over_adaptive_tuned']:.2f}x; {verdict(tuned_c['accuracy'], tuned_a['accuracy'])}")
    rec.print(f"as shipped: captum batched@{args.steps} / ours adaptive@{DEFAULT_TOLERANCE:g} = "
              f"{ratios['captum_batched_usual_over_adaptive_default']:.2f}x; {verdict(table[usual_c]['accuracy'], default['accuracy'])}")


def verdict(captum: dict, adaptive: dict) -> str:
    """Whether a speed ratio is one at equal held-out accuracy, in words, with the numbers."""
    worse = [k for k in ("p95", "max") if adaptive[k] > captum[k]]
    numbers = f"held-out token error p95 {captum['p95']:.1e} vs {adaptive['p95']:.1e}, max {captum['max']:.1e} vs {adaptive['max']:.1e}"
    if not worse:
        return f"ours at least as accurate ({numbers})"
    return f"NOT at equal accuracy: ours has the larger {' and '.join(worse)} ({numbers})"


if __name__ == "__main__":
    main()
