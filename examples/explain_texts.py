"""Explain a few texts with integrated gradients and attention rollout, printing word scores.

    python examples/explain_texts.py --model demo-out/models/baseline "not bad at all" "a great cast but a dull plot"
"""

from __future__ import annotations

import argparse

from audit import AttentionRollout, IntegratedGradients, load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("texts", nargs="+")
    ap.add_argument("--model", default=None, help="model directory (default: embedded backbone, untrained head)")
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()

    bundle = load_model(args.model)
    ig = IntegratedGradients(n_steps=args.steps).explain(bundle, args.texts)
    rollout = AttentionRollout().explain(bundle, args.texts)
    for a, r in zip(ig, rollout):
        label = bundle.label_names[a.target]
        print(f"\n{a.text!r} -> {label}  (completeness error {a.info['relative_error']:.2%})")
        for word, s_ig, s_att in zip(a.words, a.word_scores, r.word_scores):
            print(f"  {word:<20} IG {s_ig:+.3f}   rollout {s_att:.3f}")


if __name__ == "__main__":
    main()
