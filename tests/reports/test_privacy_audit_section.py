"""The privacy-audit report section: content, escaping, masking, and tolerance of partial results."""

from __future__ import annotations

import copy
import html
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from reports import render
from reports._view_privacy_audit import build

XSS = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{ 7*7 }}"
RLO = "abc\u202edef"
SECRET = "4 2 7 1 9"
PHONE = "07700 900123"
TRAINING_TEXT = "SECRET-TRAINING-TEXT the parcel for Ngozi arrived"


def roc(shift: float) -> dict[str, list[float]]:
    fpr = [0.0, 0.001, 0.01, 0.1, 0.5, 1.0]
    return {"fpr": fpr, "tpr": [min(1.0, f + shift * (1 - f) * (f > 0)) for f in fpr]}


def attack(name: str, auc: float, shift: float, n: int = 480) -> dict[str, Any]:
    return {
        "name": name, "title": f"title {XSS}", "config": {"statistic": f"stat {IMG}", "reference_models": 4 if name == "reference" else 0,
                                                           "recipe": {"epochs": 1, "lr": 1e-4}, "train_seconds": [10.5, 11.0]},
        "n_members": n, "n_nonmembers": n,
        "auc": {"value": auc, "ci": [auc - 0.03, auc + 0.03]},
        "balanced_accuracy": {"value": 0.5 + (auc - 0.5) / 2, "ci": [0.5, 0.6]},
        "tpr_at_fpr": [{"fpr": 0.01, "value": 0.01 + shift / 10, "ci": [0.0, 0.05], "allowed_false_positives": 4, "resolvable": True},
                       {"fpr": 0.001, "value": shift / 20, "ci": [0.0, 0.02], "allowed_false_positives": 0, "resolvable": False}],
        "roc": roc(shift),
        "unknown_attack_key": XSS,
    }


def section(private: bool, show_text: bool = False) -> dict[str, Any]:
    shift = 0.05 if private else 0.3
    out: dict[str, Any] = {
        "version": 1,
        "protocol": {"show_training_text": show_text, "thresholds": {"auc": 0.6}},
        "membership_inference": {
            "n_members": 480, "n_nonmembers": 480, "member_source": f"train {IMG}", "nonmember_source": f"holdout {RLO}",
            "primary": "reference", "notes": [f"note {TEMPLATE}"],
            "attacks": {"loss": attack("loss", 0.55 if private else 0.62, shift / 2),
                        "reference": attack("reference", 0.52 if private else 0.71, shift)},
        },
        "canaries": {
            "n": 2, "canaries": [
                {"id": f"canary-0 {XSS}", "masked_text": f"my account code is * * * * * {IMG}", "label": 1, "label_name": f"positive {TEMPLATE}",
                 "repetitions": 16, "secret": SECRET, "text": f"my account code is {SECRET}",
                 "exposure": {"exposure": 3.1 if private else 14.2, "max_exposure": 16.61, "ci": [2.0, 4.0], "saturated": False,
                              "exhaustive": False, "extrapolated": 3.3},
                 "scores": {"loss": -0.2, "reference": 1.5}, "nonmember_percentile": {"loss": 0.4, "reference": 0.02}},
                {"id": "canary-1", "masked_text": "my pin is * * * * *", "label": 0, "repetitions": 1,
                 "exposure": {"exposure": 1.2, "max_exposure": 16.61, "ci": [0.5, 2.0]}, "scores": {}, "nonmember_percentile": {}},
                {"id": "canary-2", "kind": "phone", "masked_text": f"ring me on 07700 900*** {XSS}", "label": 1, "repetitions": 16,
                 "text": f"ring me on {PHONE}", "exposure": {"exposure": 9.97 if not private else 1.1, "max_exposure": 9.97, "exhaustive": True},
                 "verdict": {"level": "revealed", "text": f"revealed: PHONE-VERDICT {IMG}"}, "scores": {}, "nonmember_percentile": {}},
            ],
            "by_kind": {
                "classic": {"title": "digit code", "n": 2, "n_revealed": 1, "max_exposure": 14.2, "max_possible": 16.61,
                            "verdict": {"level": "revealed", "text": "CLASSIC-KIND-VERDICT"}},
                "phone": {"title": f"phone number {TEMPLATE}", "n": 1, "n_revealed": 1, "max_exposure": 9.97, "max_possible": 9.97,
                          "repetitions_of_most_exposed": 16, "verdict": {"level": "revealed", "text": f"revealed: KIND-VERDICT {XSS}"}},
                "email": "malformed",
            },
            "protocol": {"candidates_per_canary": 1000},
        },
        "epsilon_lower_bound": {
            "epsilon_lower_bound": 0.4 if private else 2.1, "confidence": 0.95, "claimed_epsilon": 8.0 if private else None,
            "delta": 1e-5, "max_certifiable_epsilon": 3.2, "m": 256, "n_included": 130, "bonferroni": 5, "score": "reference",
            "contradicts_claim": False, "trials": [{"n_in": 5, "n_out": 5, "guesses": 10, "correct": 9, "epsilon_lower_bound": 0.4,
                                                    "max_certifiable_epsilon": 1.9}],
            "notes": [f"lb note {XSS}"],
        },
        "dp_bound_check": ({"status": "fail", "violated": True, "min_headroom": -0.12,
                            "ledger": {"epsilon": 8.0, "delta": 1e-5, "noise_multiplier": 0.6, "sample_rate": 0.0167, "steps": 240,
                                       "accountant": f"prv {IMG}"},
                            "independent_epsilon": 7.9, "accountant": "dp_accounting PLD", "alpha": 0.05,
                            "worst": {"experiment": f"exp {XSS}", "fpr_upper": 0.02, "tpr_lower": 0.2, "bound": 0.08},
                            "points": [{"experiment": f"exp {XSS}", "target_fpr": 0.01, "fpr_upper": 0.02, "tpr": 0.25, "tpr_lower": 0.2,
                                        "bound": 0.08, "headroom": -0.12, "violated": True}],
                            "bound_curve": {"fpr": [0.0, 0.001, 0.01, 0.1, 1.0], "tpr": [0.0, 0.02, 0.08, 0.4, 1.0]},
                            "notes": [f"dp note {TEMPLATE}"]}
                           if private else {"skipped": True, "reason": f"no privacy ledger {XSS}"}),
        "vulnerable_records": [{"rank": 1, "id": f"rec {IMG}", "score": 3.2, "nonmember_percentile": 0.0, "attack": "reference",
                                "text": f"{TRAINING_TEXT} {XSS}"}],
        "notes": [f"top note {RLO}"],
        "unknown_top_key": "UNKNOWN-KEY-MARKER",
    }
    return out


def results(show_text: bool = False, extra_models: dict[str, Any] | None = None) -> dict[str, Any]:
    models = {
        f"other {XSS}": {"identity": {"source": "o"}, "privacy_audit": section(True, show_text)},
        "private": {"identity": {"source": "p"}, "privacy_audit": section(True, show_text)},
        "baseline": {"identity": {"source": "b"}, "privacy_audit": section(False, show_text)},
    }
    models.update(extra_models or {})
    return {"schema_version": 1, "run": {}, "data": {}, "models": models}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(doc: str) -> Tags:
    t = Tags()
    t.feed(doc)
    return t


def privacy_part(doc: str) -> str:
    start = doc.index('<section id="privacy_audit"')
    return doc[start: doc.index("</section>", start)]


@pytest.fixture(scope="module")
def doc() -> str:
    return render(results())


def test_section_is_rendered_safely(doc):
    part = privacy_part(doc)
    assert "<script" not in doc and "<img" not in doc and "xmlns" not in doc
    assert "http://" not in doc and "https://" not in doc
    tags = parse(doc).tags
    for tag, attrs in tags:
        assert not any(k.startswith("on") for k in attrs), tag
        style = attrs.get("style")
        assert style is None or re.fullmatch(r"background-color:#[0-9a-f]{6}", style)
    text = "".join(parse(part).text)
    for hostile in (XSS, IMG, TEMPLATE, RLO):
        assert hostile in text


def test_secrets_and_training_texts_are_not_shown(doc):
    assert SECRET not in html.unescape(doc) and PHONE not in html.unescape(doc)
    assert TRAINING_TEXT not in html.unescape(doc)
    assert "Training texts are not shown" in doc
    assert "UNKNOWN-KEY-MARKER" not in doc
    opted = render(results(show_text=True))
    assert TRAINING_TEXT in html.unescape(opted) and SECRET not in html.unescape(opted)
    assert "&lt;script&gt;" in privacy_part(opted)


def test_comparison_charts_and_reading(doc):
    part = privacy_part(doc)
    view = build(results())
    names = [c["name"] for c in view["comparison"]["models"]]
    assert names == ["baseline", "private", f"other {XSS}"]  # baseline and private first, then the rest in order
    assert "Privacy at a glance" in part
    assert "badge-fail" in part and "no DP claim" in part
    assert "not evidence that the claimed" in html.unescape(part)
    # two SVG charts (linear and log-log), each: chance line + 2 ROC curves per model + a DP bound per private model
    assert part.count("<svg viewBox") == 2
    assert part.count("<polyline") == 2 * (1 + 3 * 2 + 2)
    for tag, attrs in parse(part).tags:
        if tag == "polyline":
            assert re.fullmatch(r"[0-9. ,\-]+", attrs["points"]), attrs["points"]
            assert re.fullmatch(r"#[0-9a-f]{6}", attrs["stroke"])
    assert "1e-3" in part  # log axis decades down to 1/n (480 held-out records)
    assert "14.2" in part and "16.6" in part  # canary exposure and its maximum
    assert "Measured leakage exceeds the DP guarantee" in part
    reading = html.unescape(part)
    assert "Compared with the non-private model, the private model's membership ROC-AUC is 0.550 instead of 0.710" in reading


def test_missing_and_malformed_parts_degrade():
    broken = {
        "weird": {"privacy_audit": {"membership_inference": "x", "canaries": [1, 2], "epsilon_lower_bound": None,
                                    "dp_bound_check": {"points": "bad", "status": 5, "bound_curve": {"fpr": [float("nan"), 0.5], "tpr": [0.1]}},
                                    "vulnerable_records": "nope", "protocol": []}},
        "nan": {"privacy_audit": {"membership_inference": {"attacks": {"loss": {"auc": {"value": float("nan")},
                                                                               "roc": {"fpr": [0, float("inf"), 1], "tpr": [0, 0.5, 1]}}}}}},
    }
    doc = render(results(extra_models=broken))
    part = privacy_part(doc)
    assert "nan" not in re.findall(r'points="([^"]*)"', part)[0].lower()
    assert 'id="privacy_audit"' in doc
    only_broken = {"schema_version": 1, "models": copy.deepcopy(broken)}
    assert 'id="privacy_audit"' in render(only_broken)


def test_absent_without_privacy_sections():
    plain = {"schema_version": 1, "models": {"m": {"identity": {"source": "x"}}}}
    assert build(plain) is None
    assert 'id="privacy_audit"' not in render(plain)
    assert build({"models": "not a mapping"}) is None


def test_skipped_parts_say_why(doc):
    part = html.unescape(privacy_part(doc))
    assert f"Not run: no privacy ledger {XSS}" in part
    json.dumps(build(results()))  # the view is plain data


def test_personal_data_canaries_by_kind(doc):
    part = html.unescape(privacy_part(doc))
    assert "Personal-data canaries" in part
    assert f"revealed: KIND-VERDICT {XSS}" in part and f"phone number {TEMPLATE}" in part  # shown as text, escaped
    assert "9.97" not in part and "10.0 of 10.0" in part  # exposure of its maximum, one decimal
    assert "CLASSIC-KIND-VERDICT" not in part  # the classic digit code is not a personal-data kind
    assert f"revealed: PHONE-VERDICT {IMG}" in part and "phone number" in part  # the per-canary verdict and kind
    raw = privacy_part(doc)
    assert "KIND-VERDICT &lt;script&gt;" in raw and "PHONE-VERDICT &#34;&gt;&lt;img" in raw
    view = build(results())
    (model,) = [m for m in view["models"] if m["name"] == "baseline"]
    assert [k["kind"] for k in model["canaries"]["pii"]] == [f"phone number {TEMPLATE}", "e-mail address"]  # a malformed kind keeps its title only
    plain = copy.deepcopy(results())
    for m in plain["models"].values():
        m["privacy_audit"]["canaries"].pop("by_kind")
    assert "Personal-data canaries" not in render(plain)
