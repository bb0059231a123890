"""View of the personal-data scan (``data["personal_data"]``, or a top-level ``personal_data``).

Reads untrusted results defensively: wrong types and missing keys degrade to "not available".
Strings stay raw (the template escapes them). Example texts come as saved: masked with typed
placeholders unless the section records that the user opted in to raw values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._format import DASH, as_dict, as_finite, as_int, as_list, as_text, fmt_num, fmt_pct

MAX_ROWS = 50
TYPE_TITLES = {
    "EMAIL": "E-mail address", "PHONE": "Phone number", "CREDIT_CARD": "Payment card number", "IBAN": "IBAN",
    "IP_ADDRESS": "IP address", "URL": "URL naming a person or account", "NATIONAL_ID": "National identity number",
    "DATE_OF_BIRTH": "Date of birth", "ADDRESS": "Postal address", "PERSON": "Person's name",
}


def _section(results: Mapping[str, Any]) -> dict[str, Any]:
    data = as_dict(results.get("data"))
    return as_dict(data.get("personal_data")) or as_dict(results.get("personal_data"))


def build(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The personal-data view, or None when the results hold no scan."""
    sec = _section(results) if isinstance(results, Mapping) else {}
    if not sec:
        return None
    raw = sec.get("raw_values_shown") is True
    counts = as_dict(sec.get("counts"))
    rows_by_type = as_dict(sec.get("rows_by_type"))
    subtypes = as_dict(sec.get("subtypes"))
    n_rows = as_int(sec.get("n_rows"))
    types = []
    for kind, n in list(counts.items())[:MAX_ROWS]:
        subs = as_dict(subtypes.get(kind))
        types.append({
            "type": as_text(kind), "title": TYPE_TITLES.get(as_text(kind), as_text(kind)), "count": fmt_num(as_int(n)),
            "rows": fmt_num(as_int(rows_by_type.get(kind))),
            "share": fmt_pct(as_int(rows_by_type.get(kind)) / n_rows, 1) if n_rows and as_int(rows_by_type.get(kind)) is not None else DASH,
            "subtypes": ", ".join(f"{as_text(k)} {fmt_num(as_int(v))}" for k, v in list(subs.items())[:12]),
        })
    examples = []
    for e in (as_dict(x) for x in as_list(sec.get("examples"))[:MAX_ROWS]):
        row = as_int(e.get("row"))
        examples.append({"row": fmt_num(row + 1) if row is not None else DASH, "column": as_text(e.get("column")),
                         "types": ", ".join(as_text(t) for t in as_list(e.get("types"))[:12]), "text": as_text(e.get("text"))})
    columns = []
    for c in (as_dict(x) for x in as_list(sec.get("columns"))[:MAX_ROWS]):
        columns.append({"column": as_text(c.get("column")), "findings": fmt_num(as_int(c.get("n_findings"))),
                        "rows": fmt_num(as_int(c.get("n_rows_affected"))), "share": fmt_pct(as_finite(c.get("share_rows_affected")), 1),
                        "types": ", ".join(f"{as_text(k)} {fmt_num(as_int(v))}" for k, v in list(as_dict(c.get("counts")).items())[:12])})
    scanner = as_dict(sec.get("scanner"))
    config = []
    for label, value in (("Types looked for", ", ".join(as_text(t) for t in as_list(scanner.get("types"))) or None),
                         ("Detectors", ", ".join(as_text(d) for d in as_list(scanner.get("detectors"))) or None),
                         ("Name recogniser (NER model)", scanner.get("ner_model") or "none"),
                         ("Lowest confidence kept", scanner.get("min_confidence")),
                         ("Columns scanned", ", ".join(as_text(c) for c in as_list(sec.get("scanned_columns"))) or None),
                         *((f"{k} version", v) for k, v in as_dict(sec.get("versions")).items() if v)):
        if value is not None and value != "":
            config.append({"label": label, "value": as_text(value), "code": False})
    n_findings = as_int(sec.get("n_findings")) or 0
    return {
        "n_rows": fmt_num(n_rows), "n_rows_affected": fmt_num(as_int(sec.get("n_rows_affected"))),
        "share": fmt_pct(as_finite(sec.get("share_rows_affected")), 1), "n_findings": fmt_num(n_findings),
        "found": n_findings > 0, "types": types, "examples": examples, "columns": columns, "config": config,
        "raw": raw,
    }
