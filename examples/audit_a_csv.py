"""Fine-tune the embedded backbone on a labelled CSV, then audit it and write the report.

    python examples/audit_a_csv.py reviews.csv --text-column text --label-column label --out audit-out

Without a CSV argument the example writes a small demo CSV first, so it runs as is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audit import AuditConfig, fine_tune, load_dataset, load_model, make_demo_dataset, run_audit, save_dataset, write_outputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="?", help="labelled CSV (default: a generated demo file)")
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--label-column", default="label")
    ap.add_argument("--out", default="audit-out")
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()

    out = Path(args.out)
    csv = args.csv
    if csv is None:
        csv = out / "demo.csv"
        save_dataset(make_demo_dataset(n=800, seed=1), csv)

    data = load_dataset(csv, text_column=args.text_column, label_column=args.label_column)
    train, held_out = data.split(eval_fraction=0.2, seed=0)
    bundle = load_model(None, num_labels=data.num_labels, label_names=data.label_names)
    record = fine_tune(bundle, train, held_out, epochs=args.epochs, lr=1e-4, out_dir=out / "model")

    result = run_audit(bundle, held_out, AuditConfig(examples_per_category=3), train_data=train,
                       trainings={"baseline": record}, command="api")
    json_path, html_path = write_outputs(result, out)
    perf = result.models["baseline"]["performance"]
    print(f"accuracy {perf['accuracy']:.3f}, F1 {perf['f1_macro']:.3f}, status {result.status}")
    print(f"report: {html_path}\nresults: {json_path}")


if __name__ == "__main__":
    main()
