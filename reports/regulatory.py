"""Which parts of an audit may serve as evidence under which EU AI Act headings.

The mapping is plain data (``HEADINGS``, ``EVIDENCE``, ``CHECK_SECTIONS``) shared by results.json
(``regulatory_map``, written by the pipeline), the HTML report and the model card. It is an aid
for the reader, not legal advice. :func:`regulatory_map` reads a results dict (untrusted, possibly
partial) and says for every heading which sections ran, for which models, with which checks;
a section that did not run is "not assessed".

Standard library only, so the report and the card can use it without the audit's dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FRAMEWORK = "EU AI Act (Regulation (EU) 2024/1689)"
NOTICE = (
    "This map is an aid for the reader, not legal advice. It points to the parts of this audit that may serve as "
    "evidence under some headings of the EU AI Act; it does not establish compliance. Whether the evidence is "
    "relevant and sufficient depends on the system's intended purpose and risk classification, and many "
    "requirements under these headings are outside what a model audit measures."
)

ASSESSED = "assessed"
NOT_ASSESSED = "not assessed"
NOT_APPLICABLE = "not applicable"

#: Evidence the audit can contribute: section key -> (title, what it records, where it lives).
#: ``scope`` is "data" for results["data"] itself, "data-section" for results["data"][key], else "model"
#: (results["models"][name][key]).
EVIDENCE: dict[str, dict[str, str]] = {
    "identity": {"title": "Model identity", "scope": "model",
                 "what": "SHA-256 of the weights, architecture, parameter count and labels; library versions and seed of the run"},
    "data": {"title": "Data", "scope": "data",
             "what": "SHA-256 of the evaluation data (and of the training data when given), row and label counts, rows skipped as invalid"},
    "personal_data": {"title": "Personal data in the training text", "scope": "data-section",
                      "what": "personal data found in the training texts by type (e-mail, phone, card, IBAN, national id, "
                              "names, ...), the share of rows affected, and whether the texts were anonymised before training",
                      "absent": "the training texts were not scanned for personal data (audit scan, or audit train --anonymise)"},
    "truncation": {"title": "Input truncation", "scope": "model",
                   "what": "how many evaluation texts were longer than the model reads, and how much text it never saw"},
    "training": {"title": "Training record", "scope": "model",
                 "what": "training settings, the SHA-256 of the training data, losses and held-out metrics per epoch"},
    "privacy_ledger": {"title": "Differential-privacy ledger", "scope": "model",
                       "what": "the privacy guarantee (epsilon, delta), accountant, noise, clipping and sampling of DP-SGD, "
                               "cross-checked by an independent accountant",
                       "absent": "no differential-privacy ledger: the model was trained without differential privacy, "
                                 "or its ledger was not supplied"},
    "performance": {"title": "Held-out performance", "scope": "model",
                    "what": "accuracy, macro precision, recall and F1, ROC-AUC, confusion matrix and per-class metrics"},
    "calibration": {"title": "Calibration", "scope": "model",
                    "what": "expected calibration error and reliability bins"},
    "explanations": {"title": "Explanations", "scope": "model",
                     "what": "word attributions (integrated gradients with a completeness check, attention rollout) "
                             "for confident, misclassified and uncertain examples"},
    "faithfulness": {"title": "Explanation quality", "scope": "model",
                     "what": "faithfulness, plausibility, agreement and a model-randomisation sanity check of every "
                             "explanation method"},
    "robustness": {"title": "Robustness probe", "scope": "model",
                   "what": "invariance tests, character- and word-level attacks under a query budget, radius-1 certificates"},
    "privacy_audit": {"title": "Privacy leakage audit", "scope": "model",
                      "what": "membership inference, canary exposure (personal-data canaries included) and an empirical epsilon lower bound on the training data"},
}

#: The headings, each with the sections that may serve as evidence for it. Summaries are short
#: paraphrases; the Regulation's text is authoritative.
HEADINGS: tuple[dict[str, Any], ...] = (
    {"id": "art-10-2", "reference": "Art. 10(2)", "title": "Data governance and management",
     "summary": "Training, validation and testing data are handled under documented practices: their origin, how "
                "they were prepared (labelling, cleaning), whether they are suitable and sufficient, and their "
                "possible biases and gaps.",
     "sections": ("data", "personal_data", "truncation", "training")},
    {"id": "art-13-3-b-iv", "reference": "Art. 13(3)(b)(iv)", "title": "Information to explain the output",
     "summary": "The instructions for use describe, where applicable, what the system can provide to help explain "
                "its outputs.",
     "sections": ("explanations", "faithfulness")},
    {"id": "art-15", "reference": "Art. 15", "title": "Accuracy, robustness and cybersecurity",
     "summary": "The system reaches, and declares, an appropriate level of accuracy; it is resilient to errors and "
                "inconsistencies and to attempts to exploit its weaknesses, such as adversarial inputs and attacks on "
                "the confidentiality of its training data.",
     "sections": ("performance", "calibration", "robustness", "privacy_ledger", "privacy_audit")},
    {"id": "annex-iv-2-d", "reference": "Annex IV, point 2(d)", "title": "Data requirements and training methods",
     "summary": "The technical documentation describes the training methods and techniques and the data sets used: "
                "provenance, scope, main characteristics, selection, labelling and cleaning.",
     "sections": ("data", "personal_data", "training", "privacy_ledger")},
    {"id": "annex-iv-2-g", "reference": "Annex IV, point 2(g)", "title": "Validation and testing",
     "summary": "The technical documentation describes the validation and testing procedures, the test data and its "
                "main characteristics, the metrics for accuracy and robustness, and dated test logs and reports.",
     "sections": ("identity", "data", "truncation", "performance", "calibration", "faithfulness", "robustness",
                  "privacy_audit")},
    {"id": "annex-iv-2-h", "reference": "Annex IV, point 2(h)", "title": "Cybersecurity measures",
     "summary": "The technical documentation describes the cybersecurity measures put in place.",
     "sections": ("privacy_ledger", "privacy_audit", "robustness")},
)

#: Which section a check belongs to, by the start of its name after "<model>: " (first match wins).
CHECK_SECTIONS: tuple[tuple[str, str], ...] = (
    ("accuracy", "performance"),
    ("micro-F1", "performance"),
    ("calibration", "calibration"),
    ("truncation", "truncation"),
    ("classifier head", "identity"),
    ("IG completeness (explanation-quality sample)", "faithfulness"),
    ("IG completeness", "explanations"),
    ("explanation faithfulness", "faithfulness"),
    ("explanation sanity", "faithfulness"),
    ("invariance tests", "robustness"),
    ("character attack", "robustness"),
    ("word attack", "robustness"),
    ("radius-1 certificate", "robustness"),
    ("membership inference", "privacy_audit"),
    ("canary exposure", "privacy_audit"),
    ("personal-data canaries", "privacy_audit"),
    ("DP guarantee", "privacy_audit"),
    ("privacy accounting", "privacy_audit"),
    ("empirical ε lower bound", "privacy_audit"),
    ("privacy audit", "privacy_audit"),
    ("skipped rows", "data"),
    ("personal data", "personal_data"),
)


def check_section(name: str, models: list[str]) -> tuple[str | None, str | None]:
    """(model, section) of a check called ``name``; model is None for a data check, section None when unknown."""
    owner, rest = None, None
    for model in sorted(models, key=len, reverse=True):
        if name.startswith(f"{model}: "):
            owner, rest = model, name[len(model) + 2:]
            break
    if rest is None:
        if not name.startswith("data: "):
            return None, None
        rest = name[len("data: "):]
    for prefix, section in CHECK_SECTIONS:
        if rest.startswith(prefix):
            return owner, section
    return owner, None


def _dict(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _model_status(entry: dict[str, Any], key: str) -> str:
    if key == "calibration":
        value = _dict(entry.get("performance")).get("ece")
        return ASSESSED if isinstance(value, (int, float)) and not isinstance(value, bool) else NOT_ASSESSED
    section = entry.get(key)
    if isinstance(section, Mapping) and section.get("not_applicable") is True:
        return NOT_APPLICABLE
    return ASSESSED if section else NOT_ASSESSED


def _data_status(data: dict[str, Any]) -> str:
    return ASSESSED if any(data.get(k) for k in ("sha256", "n_rows", "label_counts")) else NOT_ASSESSED


def _overall(statuses: list[str]) -> str:
    if ASSESSED in statuses:
        return ASSESSED
    if statuses and all(s == NOT_APPLICABLE for s in statuses):
        return NOT_APPLICABLE
    return NOT_ASSESSED


def regulatory_map(results: Mapping[str, Any], model: str | None = None) -> dict[str, Any]:
    """The map for a results dict, over every model or only ``model``.

    Each heading lists its evidence: a section with its status ("assessed", "not assessed", or "not
    applicable" when every model marks it so), the status per model, and the checks of that section
    (name, model, status, message). Checks whose section is not known are listed in ``unmapped_checks``.
    """
    results = results if isinstance(results, Mapping) else {}
    models = _dict(results.get("models"))
    if model is not None:
        if model not in models:
            raise ValueError(f"no model {model!r} in the results; models: {', '.join(models) or 'none'}")
        models = {model: models[model]}
    names = list(models)
    data = _dict(results.get("data"))

    checks_by_section: dict[str, list[dict[str, Any]]] = {}
    unmapped: list[dict[str, Any]] = []
    all_names = list(_dict(results.get("models")))
    raw_checks = results.get("checks")
    for c in raw_checks if isinstance(raw_checks, list) else []:
        c = _dict(c)
        name = c.get("name") if isinstance(c.get("name"), str) else ""
        owner, section = check_section(name, all_names)
        if owner is not None and owner not in models:
            continue
        status, message = c.get("status"), c.get("message")
        item = {"name": name, "model": owner, "status": status if isinstance(status, str) else "",
                "message": message if isinstance(message, str) else ""}
        (checks_by_section.setdefault(section, []) if section else unmapped).append(item)

    sections: dict[str, dict[str, Any]] = {}
    for key, info in EVIDENCE.items():
        if info["scope"] == "data":
            per_model: dict[str, str] = {}
            status = _data_status(data)
        elif info["scope"] == "data-section":
            per_model = {}
            status = ASSESSED if _dict(data.get(key)) else NOT_ASSESSED
        else:
            per_model = {n: _model_status(_dict(models[n]), key) for n in names}
            status = _overall(list(per_model.values()))
        entry = {"section": key, "title": info["title"], "what": info["what"], "status": status, "models": per_model,
                 "checks": checks_by_section.get(key, [])}
        if status != ASSESSED and info.get("absent"):
            entry["note"] = info["absent"]
        sections[key] = entry

    headings = [
        {"id": h["id"], "reference": h["reference"], "title": h["title"], "summary": h["summary"],
         "evidence": [sections[s] for s in h["sections"]]}
        for h in HEADINGS
    ]
    return {"framework": FRAMEWORK, "notice": NOTICE, "models": names, "headings": headings,
            "unmapped_checks": unmapped}


__all__ = ["ASSESSED", "CHECK_SECTIONS", "EVIDENCE", "FRAMEWORK", "HEADINGS", "NOT_APPLICABLE", "NOT_ASSESSED",
           "NOTICE", "check_section", "regulatory_map"]
