"""Printing the report with headless Chromium on A4 and Letter paper.

A report with the widest content the sections produce (every robustness column, long method, model and
parameter names, unbroken hashes and paths, a deeply nested configuration) is laid out under print media at
the width of the printed page, then printed to PDF. The checks: nothing is wider than the page or cut off
by a scrolling box (so the browser never has to shrink the whole report to fit), every character of the
printed text and every heading and last-column cell of every table reach the PDF, headings stay on the page
of the content they introduce, each figure stays on one page with its caption, and folded details are
printed.

Skipped where no Chromium binary is on PATH; the PDF checks also need ``pdftotext`` (poppler-utils).
The markers that locate headings and figures in the PDF are added by the test to its own page only; the
report itself carries no script.
"""

from __future__ import annotations

import base64
import collections
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from reports import render

import test_faithfulness_section as faithfulness
import test_privacy_audit_section as privacy_audit
import test_privacy_section as privacy
import test_render as base
import test_robustness_section as robustness

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
PDFTOTEXT = shutil.which("pdftotext")
PAPERS_MM = {"A4": (210.0, 297.0), "Letter": (215.9, 279.4)}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (chromium, chromium-browser or google-chrome on PATH)")
needs_pdftotext = pytest.mark.skipif(PDFTOTEXT is None, reason="needs pdftotext (poppler-utils)")

LONG_MODEL = "distilroberta-base-finetuned-customer-reviews-with-a-long-run-name-2026-11-29"
LONG_METHOD = "integrated_gradients_with_blurred_baseline_and_noise_tunnel_smoothgrad_squared"
LONG_TEST = "nationality_and_demonym_swap_with_extended_country_list_version_two"
LONG_TOKEN = "/data/" + "x" * 40 + "/checkpoints/" + "0123456789abcdef" * 6 + "/model.safetensors"


# ---------------------------------------------------------------------------------------------- the report


def nested_config(depth: int) -> dict[str, Any]:
    """A configuration nested ``depth`` levels deep, with long keys and an unbroken value at the bottom."""
    node: dict[str, Any] = {"trainable_parameter_names": [f"roberta.encoder.layer.{i}.attention.self.query.weight" for i in range(6)],
                            "checkpoint_path": LONG_TOKEN, "sha256": "f" * 64}
    for level in range(depth):
        node = {f"analysis_options_level_{level}_with_a_long_key": node, "seed": level}
    return node


def wide_results() -> dict[str, Any]:
    """Every section, with the widest tables and longest unbreakable strings the sections can show."""
    r = base.make_results()
    r["run"]["config"]["nested"] = nested_config(6)
    r["data"]["source"] = LONG_TOKEN
    model = r["models"].pop("baseline")
    model["identity"]["source"] = LONG_TOKEN

    faith = faithfulness.faith_section()
    summary = faith["faithfulness"]["summary"]
    summary[LONG_METHOD] = summary["integrated_gradients"]
    faith["methods"].append(LONG_METHOD)
    bins = [0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5]
    for per_method in faith["faithfulness"]["bins"].values():
        for kind in ("comprehensiveness", "sufficiency"):
            per_method[kind] = [faithfulness.stat(0.1 + 0.01 * j) | {"bin": b} for j, b in enumerate(bins)]
    faith["faithfulness"]["protocol"]["bins"] = bins
    model["faithfulness"] = faith

    rob = robustness.section()
    rob["char_attack"]["budgets"] = [robustness.attack_metrics(0.1 * k, k) for k in (1, 2, 3, 4, 6, 8)]
    test = dict(rob["invariance"]["tests"][1], name=LONG_TEST, description=LONG_TOKEN)
    rob["invariance"]["tests"].append(test)
    model["robustness"] = rob

    model["privacy_audit"] = privacy_audit.section(True)
    model["privacy_ledger"] = privacy.ledger(trainable_parameter_names=[f"{LONG_MODEL}.{i}.{LONG_METHOD}" for i in range(40)])
    r["models"][LONG_MODEL] = model
    return r


# ---------------------------------------------------------------------------------------------- Chromium


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (no network port, no extra package)."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()

        def child_fds() -> None:  # the protocol pipe is fds 3 (commands in) and 4 (answers out)
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=child_fds, close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.out, self.inp = to_chrome_w, from_chrome_r
        self.buffer = b""
        self.last_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self.out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._message(deadline)
            if answer.get("id") == self.last_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            self.events.append(self._message(deadline))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
            self.proc.wait(10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.out)
        os.close(self.inp)


# Scripts run by the test in its own browser tab (never part of the report).

PAGE_MARGINS = r"""
(() => {
  const found = [];
  const walk = rules => { for (const r of rules) { if (r instanceof CSSPageRule) found.push(r); else if (r.cssRules) walk(r.cssRules); } };
  for (const sheet of document.styleSheets) walk(sheet.cssRules);
  const px = value => { const d = document.createElement('div'); d.style.width = value; document.body.append(d);
                        const w = d.getBoundingClientRect().width; d.remove(); return w; };
  const rule = found.reverse().find(r => r.style.marginLeft && r.style.marginRight);
  return rule ? [px(rule.style.marginLeft), px(rule.style.marginRight)] : null;
})()
"""

OVERFLOWS = r"""
(() => {
  const limit = document.documentElement.clientWidth;
  const bad = el => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) return null;
    const s = getComputedStyle(el);
    if (r.right > limit + 1) return `reaches ${Math.round(r.right)}px, the page is ${limit}px wide`;
    if (s.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1) return `cuts off ${el.scrollWidth - el.clientWidth}px of its width`;
    if (s.overflowY !== 'visible' && el.scrollHeight > el.clientHeight + 1) return `cuts off ${el.scrollHeight - el.clientHeight}px of its height`;
    return null;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const why = bad(el);
    if (why && !(el.parentElement && bad(el.parentElement))) {
      const where = el.closest('section[id]');
      out.push(`${where ? where.id : 'page'}: <${el.tagName.toLowerCase()} class="${el.getAttribute('class') || ''}"> `
               + `"${(el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 50)}" ${why}`);
    }
  }
  return out;
})()
"""

# Headings (and figures) get a marker at their end and one before the first printed text of what follows them
# (a figure: at its start and after its caption); the PDF must show both markers of a pair on one page.
MARKERS = r"""
(() => {
  const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const firstText = el => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, {acceptNode: n =>
      n.data.trim() && shown(n.parentElement) && !n.parentElement.closest('svg') ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP});
    return walker.nextNode();
  };
  const mark = (id, where, node) => {
    const m = document.createElement('span');
    m.textContent = ` ${id} `;
    m.style.fontSize = '5pt';
    m.style.textTransform = 'none';
    if (where === 'before') node.parentNode.insertBefore(m, node); else node.append(m);
  };
  const pairs = [];
  document.querySelectorAll('h2, h3, h4, h5').forEach((h, i) => {
    if (!shown(h)) return;
    let next = h.nextElementSibling;
    while (next && !(shown(next) && firstText(next))) next = next.nextElementSibling;
    if (!next) return;
    const text = firstText(next), label = h.textContent.trim().replace(/\s+/g, ' ');
    mark(`zzh${i}azz`, 'end', h);
    mark(`zzh${i}bzz`, 'before', text);
    pairs.push([`zzh${i}azz`, `zzh${i}bzz`, label]);
  });
  document.querySelectorAll('figure').forEach((f, i) => {
    if (!shown(f)) return;
    const start = document.createElement('span');
    start.textContent = `zzf${i}azz`;
    start.style.fontSize = '5pt';
    start.style.textTransform = 'none';
    const label = (f.querySelector('figcaption') || f).textContent.trim().slice(0, 60);
    f.prepend(start);
    mark(`zzf${i}bzz`, 'end', f);
    pairs.push([`zzf${i}azz`, `zzf${i}bzz`, label]);
  });
  return pairs;
})()
"""

# Each printed table: its caption, its column headings and the cells of its last column.
TABLES = r"""
(() => [...document.querySelectorAll('table')].filter(t => t.getClientRects().length > 0).map(t => {
  const text = el => el.innerText.trim();
  const rows = [...t.rows].filter(r => r.cells.length > 0);
  const head = t.tHead ? [...t.tHead.rows].flatMap(r => [...r.cells].map(text)) : [];
  return {caption: t.caption ? text(t.caption) : text(rows[0].cells[0]).slice(0, 40), head,
          last: rows.map(r => text(r.cells[r.cells.length - 1]))};
}))()
"""

DETAILS = r"""
(() => [...document.querySelectorAll('details')].map(d => {
  const summary = d.querySelector(':scope > summary');
  const body = [...d.children].filter(c => c !== summary);
  return {summary: summary ? summary.textContent.trim() : '', summary_shown: !!summary && summary.getClientRects().length > 0,
          body_shown: body.length > 0 && body.every(c => c.getClientRects().length > 0 && c.getBoundingClientRect().height > 0),
          screen_only: d.classList.contains('screen-only')};
}))()
"""


def print_report(html_path: Path, paper: str, workdir: Path) -> dict[str, Any]:
    """Lay the report out as printed on ``paper``, measure it, then print it to PDF."""
    width_mm, height_mm = PAPERS_MM[paper]
    browser = Browser(CHROMIUM, workdir / f"profile-{paper}")
    try:
        browser.open(html_path.as_uri())
        browser.call("Emulation.setEmulatedMedia", media="print")
        margins = browser.evaluate(PAGE_MARGINS) or [38.4, 38.4]  # Chromium's default margin: 0.4 inch
        content_width = round(width_mm / 25.4 * 96 - sum(margins))
        browser.call("Emulation.setDeviceMetricsOverride", width=content_width, height=1000, deviceScaleFactor=1, mobile=False)
        overflows = browser.evaluate(OVERFLOWS)
        details = browser.evaluate(DETAILS)
        tables = browser.evaluate(TABLES)
        pairs = browser.evaluate(MARKERS)
        text = browser.evaluate("document.body.innerText")
        browser.call("Emulation.clearDeviceMetricsOverride")
        browser.call("Emulation.setEmulatedMedia", media="")
        pdf = browser.call("Page.printToPDF", timeout=120, paperWidth=width_mm / 25.4, paperHeight=height_mm / 25.4,
                           printBackground=True)["data"]
    finally:
        browser.close()
    pdf_path = workdir / f"report-{paper}.pdf"
    pdf_path.write_bytes(base64.b64decode(pdf))
    return {"content_width": content_width, "overflows": overflows, "details": details, "tables": tables, "pairs": pairs,
            "text": text, "pdf": pdf_path}


def pdf_pages(pdf: Path) -> list[str]:
    out = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60).stdout
    return out.split("\f")


def characters(text: str) -> collections.Counter:
    """Letters and digits of a text, case-folded and with ligatures and the like spelled out."""
    return collections.Counter(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("print") / "report.html"
    path.write_text(render(wide_results()), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=sorted(PAPERS_MM))
def printed(request, report, tmp_path_factory) -> dict[str, Any]:
    out = print_report(report, request.param, tmp_path_factory.mktemp(f"print-{request.param}"))
    out["paper"] = request.param
    return out


# ---------------------------------------------------------------------------------------------- the checks


def test_report_exercises_the_widest_content(report):
    page = report.read_text(encoding="utf-8")
    for needle in ("Similarity", "Queries per success", LONG_METHOD, LONG_TEST, LONG_MODEL, "<figure",
                   "analysis_options_level_5_with_a_long_key", "Comprehensiveness and sufficiency per bin"):
        assert needle in page, needle


def test_nothing_is_wider_than_the_printed_page(printed):
    assert printed["content_width"] < 760
    assert not printed["overflows"], f"{printed['paper']}: " + "\n".join(printed["overflows"][:15])


def test_pdf_pages_have_the_paper_size(printed):
    width_mm, height_mm = PAPERS_MM[printed["paper"]]
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", printed["pdf"].read_bytes())
    assert len(boxes) >= 10
    for w, h in boxes:
        assert abs(float(w) - width_mm / 25.4 * 72) < 1 and abs(float(h) - height_mm / 25.4 * 72) < 1, (printed["paper"], w, h)


@needs_pdftotext
def test_every_printed_character_reaches_the_pdf(printed):
    pages = pdf_pages(printed["pdf"])
    missing = characters(printed["text"]) - characters("".join(pages))
    assert not missing, f"{printed['paper']}: text cut off in the PDF, characters missing: {dict(missing.most_common(20))}"


def letters(text: str) -> str:
    """The letters and digits of a text in order, case-folded."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())


def reordered(text: str) -> bool:
    """Whether bidirectional controls reorder the text when drawn (its letters reach the PDF in another order)."""
    return any(unicodedata.bidirectional(c) in {"LRE", "RLE", "LRO", "RLO", "LRI", "RLI", "FSI"} for c in text)


@needs_pdftotext
def test_every_column_of_every_table_is_printed(printed):
    """The headings of every table, and every cell of its last column, are in the PDF's text."""
    raw = subprocess.run([PDFTOTEXT, "-raw", str(printed["pdf"]), "-"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    printed_text = letters(raw)
    tables = printed["tables"]
    assert len(tables) >= 30 and any("Similarity" in t["head"] for t in tables)
    missing = [f"{t['caption']!r}: {cell!r}" for t in tables for cell in t["head"] + t["last"]
               if letters(cell) not in printed_text and not reordered(cell)]
    assert not missing, f"{printed['paper']}: not in the PDF:\n" + "\n".join(missing[:20])


@needs_pdftotext
def test_headings_and_figures_stay_with_their_content(printed):
    pages = pdf_pages(printed["pdf"])
    page_of = {}
    for number, page in enumerate(pages, start=1):
        for word in page.casefold().split():
            if word.startswith("zz") and word.endswith("zz"):
                page_of[word] = number
    headings = [p for p in printed["pairs"] if p[0].startswith("zzh")]
    figures = [p for p in printed["pairs"] if p[0].startswith("zzf")]
    assert len(figures) >= 4 and len(headings) >= 20
    apart = [f"{label!r}: page {page_of.get(a)} / page {page_of.get(b)}" for a, b, label in printed["pairs"]
             if page_of.get(a) is None or page_of.get(a) != page_of.get(b)]
    assert not apart, f"{printed['paper']}: split from what follows:\n" + "\n".join(apart)


def test_folded_details_are_printed(printed):
    details = printed["details"]
    assert len(details) >= 8
    hidden = [d["summary"] for d in details if not d["summary_shown"] or not (d["body_shown"] or d["screen_only"])]
    assert not hidden, f"{printed['paper']}: details not printed: {hidden}"


# ---------------------------------------------------------------------------------------------- the comparison


def wide_comparison(tmp: Path) -> dict[str, Any]:
    """A comparison of the widest report against a changed copy: paired statistics, deltas, changed checks."""
    import copy

    from audit.compare import compare_files
    from reports import write_comparison  # noqa: F401  (the page is written by the caller)

    a = wide_results()
    b = copy.deepcopy(a)
    for results, shift in ((a, 0), (b, 1)):
        for section in results["models"].values():
            perf = section["performance"]
            n = 120
            true = [i % 2 for i in range(n)]
            pred = [t if (i + shift) % 7 else 1 - t for i, t in enumerate(true)]  # B errs on other examples
            perf["per_example"] = {"ids": [f"review-{i}" for i in range(n)], "true": true, "predicted": pred,
                                   "p_true": [0.9 if p == t else 0.2 for p, t in zip(pred, true)]}
            perf["accuracy"] = sum(p == t for p, t in zip(pred, true)) / n
    for check in b["checks"][::2]:
        check["status"] = {"pass": "fail", "warn": "pass", "fail": "warn"}.get(check["status"], check["status"])
    (tmp / "a.json").write_text(json.dumps(a), encoding="utf-8")
    (tmp / "b.json").write_text(json.dumps(b), encoding="utf-8")
    return compare_files([tmp / "a.json", tmp / "b.json"])


@pytest.fixture(scope="module", params=sorted(PAPERS_MM))
def printed_comparison(request, tmp_path_factory) -> dict[str, Any]:
    from reports import write_comparison

    tmp = tmp_path_factory.mktemp(f"print-compare-{request.param}")
    comparison = wide_comparison(tmp)
    assert any("difference" in p["paired"] for p in comparison["pairs"])  # the paired statistics are shown
    page = write_comparison(comparison, tmp / "compare.html")
    out = print_report(page, request.param, tmp)
    out["paper"] = request.param
    return out


def test_comparison_is_no_wider_than_the_printed_page(printed_comparison):
    assert not printed_comparison["overflows"], \
        f"{printed_comparison['paper']}: " + "\n".join(printed_comparison["overflows"][:15])


@needs_pdftotext
def test_comparison_prints_every_character_and_column(printed_comparison):
    pages = pdf_pages(printed_comparison["pdf"])
    missing = characters(printed_comparison["text"]) - characters("".join(pages))
    assert not missing, f"{printed_comparison['paper']}: characters missing: {dict(missing.most_common(20))}"
    raw = subprocess.run([PDFTOTEXT, "-raw", str(printed_comparison["pdf"]), "-"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    tables = printed_comparison["tables"]
    assert len(tables) >= 4
    lost = [f"{t['caption']!r}: {cell!r}" for t in tables for cell in t["head"] + t["last"]
            if letters(cell) not in letters(raw) and not reordered(cell)]
    assert not lost, f"{printed_comparison['paper']}: not in the PDF:\n" + "\n".join(lost[:20])
