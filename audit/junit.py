"""The checks of an audit as JUnit XML, for the test-report views of CI systems.

One ``<testsuite>`` per model (checks that belong to no model, such as skipped data rows, go to a
suite named ``data``), one ``<testcase>`` per check. ``fail`` becomes ``<failure>``, ``error``
``<error>``; ``warn`` passes with its message in ``<system-out>``, or is ``<skipped>`` with
``warn_as="skipped"`` (CI views then show it apart from the passes). Standard library only.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterable, Mapping

from ._util import atomic_write_text
from .thresholds import split_name

WARN_AS = ("system-out", "skipped")
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(x: Any) -> str:
    """Text that XML 1.0 can hold: characters it forbids (most control characters) become U+FFFD."""
    return _NOT_XML.sub("\ufffd", "" if x is None else str(x))


def _detail(check: Mapping[str, Any]) -> str:
    parts = [f"status: {check.get('status')}", f"message: {check.get('message') or ''}"]
    if check.get("value") is not None:
        parts.append(f"value: {check['value']}")
    if check.get("threshold") is not None:
        parts.append(f"threshold: {check['threshold']}")
    return "\n".join(parts)


def _testcase(suite_el: ET.Element, suite: str, case: str, check: Mapping[str, Any], warn_as: str) -> str:
    el = ET.SubElement(suite_el, "testcase", name=_xml_text(case), classname=_xml_text(f"textaudit.{suite}"), time="0")
    status = check.get("status")
    message = _xml_text(check.get("message") or status)
    if status == "fail":
        ET.SubElement(el, "failure", message=message, type="fail").text = _xml_text(_detail(check))
    elif status == "error":
        ET.SubElement(el, "error", message=message, type="error").text = _xml_text(_detail(check))
    elif status == "warn" and warn_as == "skipped":
        ET.SubElement(el, "skipped", message=_xml_text(f"warning: {check.get('message') or ''}"))
    ET.SubElement(el, "system-out").text = _xml_text(_detail(check))
    return str(status)


def build(checks: Iterable[Mapping[str, Any]], models: Iterable[str], *, warn_as: str = "system-out",
          name: str = "textaudit") -> ET.Element:
    """The ``<testsuites>`` element for ``checks`` (plain dicts with name, status, value, threshold, message)."""
    if warn_as not in WARN_AS:
        raise ValueError(f"--junit-warn must be one of {', '.join(WARN_AS)}, got {warn_as!r}")
    models = list(models)
    grouped: dict[str, list[tuple[str, Mapping[str, Any]]]] = {m: [] for m in models}
    for check in checks:
        model, case = split_name(str(check.get("name", "")), models)
        grouped.setdefault(model if model is not None else "data", []).append((case, check))
    root = ET.Element("testsuites", name=_xml_text(name))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite, cases in grouped.items():
        if not cases:
            continue
        suite_el = ET.SubElement(root, "testsuite", name=_xml_text(suite))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for case, check in cases:
            status = _testcase(suite_el, suite, case, check, warn_as)
            counts["tests"] += 1
            counts["failures"] += status == "fail"
            counts["errors"] += status == "error"
            counts["skipped"] += status == "warn" and warn_as == "skipped"
        for key, value in counts.items():
            suite_el.set(key, str(value))
            totals[key] += value
        suite_el.set("time", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "0")
    return root


def render(checks: Iterable[Mapping[str, Any]], models: Iterable[str], *, warn_as: str = "system-out") -> str:
    root = build(checks, models, warn_as=warn_as)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(path: str | Path, checks: Iterable[Mapping[str, Any]], models: Iterable[str], *,
          warn_as: str = "system-out") -> Path:
    """Write the JUnit XML atomically; returns the path."""
    return atomic_write_text(path, render(checks, models, warn_as=warn_as))


__all__ = ["WARN_AS", "build", "render", "write"]
