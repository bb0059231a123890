"""Model-parameter randomisation sanity check."""

import pytest

from audit.attribution import AttentionRollout, GradientXInput, IntegratedGradients
from audit.attribution.sanity import encoder_layers, head_modules, parameter_randomisation
from audit.models import load_model

TEXTS = ["the film was great and the acting superb", "a dull plot but a great cast", "I would never buy this again",
         "not bad at all, really enjoyable"]


@pytest.mark.parametrize("arch,head", [("bert", {"classifier", "bert.pooler"}), ("distilbert", {"pre_classifier", "classifier"}),
                                       ("roberta", {"classifier"})])
def test_head_and_layers_found(tiny_dirs, arch, head):
    b = load_model(tiny_dirs[arch], device="cpu")
    assert {name for name, _ in head_modules(b.model)} == head
    assert len(encoder_layers(b.model)) == 2


def test_randomisation_changes_gradients_not_rollout_and_leaves_the_model_alone(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    before = b.sha256
    explainers = [IntegratedGradients(n_steps=17, method="adaptive_simpson"), GradientXInput(),
                  AttentionRollout(keep_heads=False)]
    pred = b.predict_proba(TEXTS).argmax(1).tolist()
    original = {e.name: e.explain(b, TEXTS, pred) for e in explainers}
    out = parameter_randomisation(b, explainers, original, layers=(0, 2), threshold=0.5, seed=0, n_boot=100)
    b.invalidate_identity()
    assert b.sha256 == before  # the audited model is untouched
    head, full = out["stages"]
    assert head["name"] == "classifier head" and full["top_layers"] == 2
    # rollout never looks at the head: identical maps after the head is re-initialised
    assert head["methods"]["attention_rollout"]["spearman"]["mean"] == pytest.approx(1.0)
    # gradient methods explain the head: their maps change
    for m in ("integrated_gradients", "gradient_x_input"):
        assert head["methods"][m]["spearman"]["mean"] < 0.9
        assert full["methods"][m]["spearman"]["mean"] < 0.5
    assert "integrated_gradients" not in out["flagged"]
    assert len(full["methods"]["gradient_x_input"]["per_example"]["spearman"]) == len(TEXTS)
    again = parameter_randomisation(b, explainers, original, layers=(0, 2), threshold=0.5, seed=0, n_boot=100)
    assert again["stages"][1]["methods"]["gradient_x_input"]["per_example"] == full["methods"]["gradient_x_input"]["per_example"]


def test_threshold_flags_unchanged_methods(tiny_dirs):
    b = load_model(tiny_dirs["distilbert"], device="cpu")
    rollout = AttentionRollout(keep_heads=False)
    original = {rollout.name: rollout.explain(b, TEXTS)}
    out = parameter_randomisation(b, [rollout], original, layers=(0,), threshold=0.5, n_boot=50)
    assert out["flagged"] == ["attention_rollout"]
    # more layers than the model has: all of them, and the stage says what was asked
    (stage,) = parameter_randomisation(b, [rollout], original, layers=(9,), n_boot=50)["stages"]
    assert stage["top_layers"] == 2 and stage["requested_top_layers"] == 9
    assert {"distilbert.transformer.layer.0", "distilbert.transformer.layer.1"} <= set(stage["randomised"])
    with pytest.raises(ValueError, match="non-negative"):
        parameter_randomisation(b, [rollout], original, layers=(-1,))
