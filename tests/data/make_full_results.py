"""Write the complete results files the report tests load instead of running the pipeline.

* tests/data/full_results.json: a small real demo run on a tiny random BERT, with every analysis
  the report shows (plain and differentially private fine-tuning, explanations, faithfulness,
  robustness, the privacy leakage audit with the training texts shown on request, the
  personal-data scan, the regulatory map);
* tests/data/full_results_multilabel.json: a tiny multi-label classifier fine-tuned and audited
  (per-label metrics, explanations per predicted label, analyses marked not applicable, a scan
  for personal data that finds none).

So the fixtures hold every section and field the renderers read, in the shape the pipeline writes
them. Regenerate after a change to the results shape:

    python -m tests.data.make_full_results            # both; or name one: single, multi
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "full_results.json"
OUT_MULTI_LABEL = HERE / "full_results_multilabel.json"


def single_label() -> dict:
    from model_zoo import build

    from audit.pipeline import AuditConfig, DemoConfig, run_demo

    small_faithfulness = {"n_examples": 4, "sanity_examples": 1, "n_boot": 50, "shap_max_evals": 32, "ig_steps": 17}
    small_probe = {"n_invariance": 4, "n_attack": 4, "n_radius": 2, "query_budget": 60, "examples": 2}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build("bert+wordpiece", Path(tmp) / "model")
        cfg = DemoConfig(
            n=240, epochs=1, batch_size=16, max_length=32, audit_records=32, reference_records=32,
            canary_repetitions=(1, 4),
            privacy_options={"n_reference_models": 1, "n_bootstrap": 20, "n_candidates": 50,
                             "reference_model": str(model_dir), "show_training_text": True, "n_vulnerable": 2},
            private_options={"epochs": 1, "batch_size": 32, "max_physical_batch_size": 64},
            audit=AuditConfig(examples_per_category=1, ig_steps=16, show_progress=False,
                              analysis_options={"faithfulness": small_faithfulness, "robustness": small_probe}),
        )
        run_demo(Path(tmp) / "demo", cfg, device="cpu", model_source=model_dir)
        return json.loads((Path(tmp) / "demo" / "results.json").read_text(encoding="utf-8"))


def multi_label() -> dict:
    import numpy as np
    from model_zoo import make_model

    from audit.data import TextDataset
    from audit.models import load_model
    from audit.pipeline import AuditConfig, add_personal_data, run_audit
    from audit.training import fine_tune

    names = ["insult", "threat", "toxic"]
    keywords = ["idiot", "hurt", "awful"]
    filler = "the a good day was it and so very nice film food".split()
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for _ in range(80):
        ys = sorted(j for j in range(3) if rng.random() < 0.4)
        words = list(rng.choice(filler, 5)) + [keywords[j] for j in ys]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(ys)
    train, ev = TextDataset(texts, labels, names, multi_label=True).split(0.25, seed=0)
    model, tok = make_model("bert+wordpiece", len(names), problem_type="multi_label_classification", label_names=names)
    bundle = load_model((model, tok), device="cpu")
    record = fine_tune(bundle, train, ev, epochs=4, lr=3e-3, batch_size=16, max_length=32, show_progress=False)
    cfg = AuditConfig(ig_steps=8, examples_per_category=1, max_length=32, show_progress=False,
                      explain_methods=("integrated_gradients", "occlusion"), analyses=("faithfulness", "robustness"))
    result = run_audit({"multi-label": bundle}, ev, cfg, train_data=train, trainings={"multi-label": record})
    add_personal_data(result, train)  # synthetic texts: a scan that finds nothing
    return result.to_dict()


def main(which: list[str]) -> list[Path]:
    sys.path.insert(0, str(HERE.parent))
    made = []
    for name, path, make in (("single", OUT, single_label), ("multi", OUT_MULTI_LABEL, multi_label)):
        if not which or name in which:
            path.write_text(json.dumps(make(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
            made.append(path)
    return made


if __name__ == "__main__":
    print(*main(sys.argv[1:]), sep="\n")
