"""Cost of the privacy audit at demo scale, stage by stage, on the embedded backbone.

The reference attack dominates: each reference model is a fine-tuning run. This measures one
reference model's fine-tuning throughput, the scoring throughput (target and reference models
score every audited record; canaries add ``n_candidates`` texts each), and the accounting, then
prints the projected cost of the default options for the demo (480 members + 480 held-out,
4 reference models x 200 records x 2 epochs, 6 canaries x 1000 candidates, 256 audit records).

    python benchmarks/bench_privacy.py                       # quick: 64 records per reference model
    python benchmarks/bench_privacy.py --ref-train 400 --epochs 2 --device cuda

Timings on a shared machine are noisy; run twice and compare.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref-train", type=int, default=64, help="records per reference model")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--score", type=int, default=256, help="records to score")
    ap.add_argument("--candidates", type=int, default=200, help="candidate secrets for one canary")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--max-length", type=int, default=64)
    args = ap.parse_args()

    from audit.demo import make_demo_dataset
    from audit.models import load_model
    from audit.privacy import PrivacyCurve, dp_bound_check, one_run_audit, plant_canaries
    from audit.privacy.canaries import canary_log_probs
    from audit.privacy.membership import example_stats
    from audit.training import fine_tune

    data = make_demo_dataset(args.ref_train + args.score, seed=1)
    train, score = data.subset(range(args.ref_train)), data.subset(range(args.ref_train, len(data)))
    rows = []

    t = time.perf_counter()
    ref = load_model(None, num_labels=2, device=args.device, label_names=data.label_names)
    rows.append(("load backbone", time.perf_counter() - t, ""))

    t = time.perf_counter()
    fine_tune(ref, train, epochs=args.epochs, lr=1e-4, batch_size=32, max_length=args.max_length, show_progress=False)
    dt = time.perf_counter() - t
    train_rate = args.ref_train * args.epochs / dt
    rows.append((f"fine-tune one reference model ({args.ref_train} x {args.epochs} epochs)", dt, f"{train_rate:.1f} records/s"))

    t = time.perf_counter()
    example_stats(ref, score.texts, score.labels, max_length=args.max_length)
    dt = time.perf_counter() - t
    score_rate = len(score) / dt
    rows.append((f"score {len(score)} records", dt, f"{score_rate:.1f} records/s"))

    _, spec = plant_canaries(train, k=1, seed=0)
    t = time.perf_counter()
    canary_log_probs(ref, spec, n_candidates=args.candidates, max_length=args.max_length)
    dt = time.perf_counter() - t
    cand_rate = (args.candidates + 1) / dt
    rows.append((f"one canary, {args.candidates} candidates", dt, f"{cand_rate:.1f} texts/s"))

    t = time.perf_counter()
    curve = PrivacyCurve({"sample_rate": 256 / 2200, "noise_multiplier": 0.8, "steps": 35, "delta": 1e-5})
    rng = np.random.default_rng(0)
    dp_bound_check(curve, {"x": (rng.normal(0.1, 1, 480), rng.normal(0, 1, 480))})
    rows.append(("privacy curve + DP bound check", time.perf_counter() - t, ""))

    t = time.perf_counter()
    inc = rng.random(256) < 0.5
    one_run_audit(inc + rng.normal(0, 1, 256), inc, delta=1e-5)
    rows.append(("one-run audit (256 records, 5 guess counts)", time.perf_counter() - t, ""))

    width = max(len(r[0]) for r in rows)
    print(f"device: {ref.device}")
    for name, sec, note in rows:
        print(f"{name:<{width}}  {sec:8.2f} s  {note}")
    # Projection for the demo with the default options
    from audit.privacy import OPTION_DEFAULTS

    refs, per_ref, epochs = OPTION_DEFAULTS["n_reference_models"], OPTION_DEFAULTS["reference_max_train"], 2
    audited = 480 + 480 + 6 + 256
    proj_train = refs * per_ref * epochs / train_rate
    proj_score = (refs + 1) * audited / score_rate
    proj_canaries = 6 * (OPTION_DEFAULTS["n_candidates"] + 1) / cand_rate
    print(f"\nprojected, demo defaults ({refs} reference models x {per_ref} records x {epochs} epochs):")
    print(f"  reference training {proj_train:7.1f} s (once), scoring {proj_score:6.1f} s (reference models once, "
          f"target per model), canaries {proj_canaries:6.1f} s per model")


if __name__ == "__main__":
    main()
