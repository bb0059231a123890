"""Mark each report template expression ``|safe`` in turn and see whether the tests notice.

Every ``{{ ... }}`` expression in ``reports/templates`` renders with autoescaping. An expression
that shows text taken from results.json must stay escaped; if the tests still pass when that one
expression is marked ``|safe``, they would not notice a template that renders hostile results
text as markup. For each expression in turn this tool writes the mutated template into a
temporary copy of the repository, runs the given tests there (default: the inertness tests) and
reports which mutants survive.

A survivor is acceptable only when the expression never carries text from the results. To tell,
the tool first runs the same tests once with every expression wrapped in a recording filter and
keeps what each one rendered: an expression whose output held a planted marker (text from a
hostile results copy made by tests/hostile_results.py) and survived is a blind spot of the tests;
one that only ever rendered numbers, fixed words or markup the view builds is listed with that
reason; one the tests never rendered is listed as not covered.

The recording run also says which tests rendered each expression: a mutant is run against those
tests only, and not run at all when escaping never changed anything the expression rendered (its
output would be the same, byte for byte, so it survives). Tests that render in a separate process
cannot be recorded and are left out of the judging, so the count of survivors is an upper bound.

    python tools/template_safe_mutation.py                       # all templates, inertness tests
    python tools/template_safe_mutation.py --only compare.html.j2
    python tools/template_safe_mutation.py --tests tests/reports/test_render.py --json out.json

Not part of the test suite: it runs the tests once per expression (several minutes).
The exit status is 1 when a survivor carried results text or was never rendered.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = Path("reports/templates")
DEFAULT_TESTS = ("tests/reports/test_inertness.py",)
MARK = "\u27e6"  # opens every marker planted by tests/hostile_results.py
PROBE = "template_mutation_probe"
_PYTEST_ARGS: list[str] = []  # extra pytest arguments (the worker's copy of --pytest-arg)

_BLOCKS = re.compile(r"\{#.*?#\}|\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}", re.S)
_EXPR = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)
_NUMBER = re.compile(r"[\s\u2212+\-\u00b1\u2248<>=\u2264\u2265~]*\(?[\d.,]+(e[+\-]?\d+)?\)?\s*(%|s|ms|x|\u00d7|bits?|pp)?[\s)]*", re.I)


@dataclass
class Expression:
    template: str  # path relative to the templates folder
    line: int
    column: int
    start: int
    end: int
    text: str  # the expression inside the braces, stripped

    @property
    def key(self) -> str:
        return f"{self.template}:{self.line}:{self.column}: {{{{ {self.text} }}}}"


def expressions(root: Path = REPO) -> list[Expression]:
    """Every ``{{ ... }}`` in the templates, outside comments and raw blocks, in file order."""
    out = []
    for path in sorted((root / TEMPLATES).rglob("*.j2")):
        source = path.read_text(encoding="utf-8")
        masked = _BLOCKS.sub(lambda m: " " * len(m.group()), source)
        for m in _EXPR.finditer(masked):
            line_start = source.rfind("\n", 0, m.start()) + 1
            out.append(Expression(str(path.relative_to(root / TEMPLATES)), source.count("\n", 0, m.start()) + 1,
                                  m.start() - line_start + 1, m.start(), m.end(), " ".join(m.group(2).split())))
    return out


def mutated(source: str, expr: Expression, wrapper: str = "safe") -> str:
    """``source`` with one expression filtered through ``wrapper`` (``safe`` or a probe call)."""
    m = _EXPR.fullmatch(source, expr.start, expr.end)
    if m is None:
        raise ValueError(f"{expr.key}: the template changed while it was being mutated")
    return f"{source[:expr.start]}{{{{{m.group(1)} ({m.group(2).strip()})|{wrapper} {m.group(3)}}}}}{source[expr.end:]}"


def copy_repository(dst: Path) -> None:
    """The files git knows of (tracked and untracked-but-not-ignored), copied to ``dst``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


# --------------------------------------------------------------------------- worker (runs in the copy)

def _clear_caches() -> None:
    """Forget rendered environments and stylesheets so the next test run reads the templates again."""
    for name, module in list(sys.modules.items()):
        if name == "reports" or name.startswith("reports."):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


class _Failures:
    """pytest plugin: the node ids of the tests that failed."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)


def _run_tests(tests: list[str], probe: Any = None, failures: _Failures | None = None) -> int:
    import pytest

    _clear_caches()
    if probe is not None:
        import jinja2

        real = jinja2.Environment.__init__

        def with_probe(self: Any, *a: Any, **kw: Any) -> None:
            real(self, *a, **kw)
            self.filters[PROBE] = probe

        jinja2.Environment.__init__ = with_probe  # type: ignore[method-assign]
    try:
        stop = [] if probe is not None else ["-x"]  # the recording run goes on past failures (see _probe_values)
        return int(pytest.main([*tests, *_PYTEST_ARGS, *stop, "-q", "-p", "no:cacheprovider"],
                               plugins=[failures] if failures is not None else []))
    finally:
        if probe is not None:
            jinja2.Environment.__init__ = real  # type: ignore[method-assign]


def _probe_values(exprs: list[Expression], tests: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """What each expression rendered in one run of the tests with every expression recorded."""
    from markupsafe import Markup, escape

    seen: dict[int, dict[str, Any]] = {}

    def probe(value: Any, index: int) -> Any:
        rec = seen.setdefault(index, {"n": 0, "results_text": False, "markup": True, "escaped": False, "samples": [],
                                      "tests": []})
        rec["n"] += 1
        # would escaping have changed this value? If it never does, |safe renders the same bytes
        rec["escaped"] = rec["escaped"] or (not isinstance(value, Markup) and str(escape(value)) != str(value))
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
        if test and test not in rec["tests"]:
            rec["tests"].append(test)
        text = "" if value is None else str(value)
        rec["results_text"] = rec["results_text"] or MARK in text
        rec["markup"] = rec["markup"] and isinstance(value, Markup)
        if len(rec["samples"]) < 4 and text not in rec["samples"]:
            rec["samples"].append(text[:80])
        return value

    originals = _write_all(exprs, lambda i, e: f"{PROBE}({i})")
    failures = _Failures()
    try:
        _run_tests(tests, probe, failures)
    finally:
        _restore(originals)
    # Tests that render in a separate process fail here (the filter exists only in this one); they
    # are never chosen to judge a mutant, so what they would catch is not counted.
    return {exprs[i].key: v for i, v in seen.items()}, failures.failed


def _tests_for(probe: dict[str, Any] | None, tests: list[str], select: str) -> list[str]:
    """The tests a mutant is run against: those that rendered the expression (``test``), their
    whole files (``file``), or every test given (``all``); none when no test rendered it or when
    escaping never changed what it rendered (then the mutant's output is the same, byte for byte)."""
    if not probe or not probe["tests"] or not probe["escaped"]:
        return []  # never rendered, or |safe would render exactly the same output: nothing to run
    if select == "all":
        return tests
    if select == "file":
        return list(dict.fromkeys(t.split("::", 1)[0] for t in probe["tests"]))
    return probe["tests"]


def _write_all(exprs: list[Expression], wrapper: Any) -> dict[Path, str]:
    originals: dict[Path, str] = {}
    by_file: dict[str, list[tuple[int, Expression]]] = {}
    for i, e in enumerate(exprs):
        by_file.setdefault(e.template, []).append((i, e))
    for template, items in by_file.items():
        path = TEMPLATES / template
        source = originals.setdefault(path, path.read_text(encoding="utf-8"))
        for i, e in sorted(items, key=lambda t: -t[1].start):  # from the end: offsets stay valid
            source = mutated(source, e, wrapper(i, e))
        path.write_text(source, encoding="utf-8")
    return originals


def _restore(originals: dict[Path, str]) -> None:
    for path, source in originals.items():
        path.write_text(source, encoding="utf-8")


def worker(plan_path: Path) -> None:
    sys.path.insert(0, os.getcwd())  # the copy's packages, not an installed or the original tree
    import reports

    if not Path(reports.__file__).resolve().is_relative_to(Path.cwd().resolve()):
        raise SystemExit(f"the tests would import reports from {reports.__file__}, not from the mutated copy")
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    _PYTEST_ARGS[:] = plan["pytest_args"]
    exprs = [Expression(**e) for e in plan["expressions"]]
    tests = plan["tests"]
    out: dict[str, Any] = {"killed": [], "survived": [], "probe": {}}
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1), os.dup(2)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        if _run_tests(tests) != 0:
            raise SystemExit("the tests fail on the unmutated templates; fix that first")
        out["probe"], out["failed_while_recording"] = _probe_values(exprs, tests)
        for n, e in enumerate(exprs):
            chosen = _tests_for(out["probe"].get(e.key), tests, plan["select"])
            rc = 0
            if chosen:
                originals = _write_all([e], lambda i, _: "safe")
                try:
                    rc = _run_tests(chosen)
                finally:
                    _restore(originals)
            (out["killed"] if rc != 0 else out["survived"]).append(e.key)
            os.write(saved[1], f"\r{n + 1}/{len(exprs)} mutants, {len(out['survived'])} survived".encode())
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
    print()
    Path(plan["out"]).write_text(json.dumps(out), encoding="utf-8")


# --------------------------------------------------------------------------- report

def reason(probe: dict[str, Any] | None) -> tuple[str, str]:
    """(verdict, reason) for a surviving expression from what it rendered during the tests."""
    if not probe:
        return "not covered", "never rendered by the tests"
    samples = ", ".join(repr(s) for s in probe["samples"])
    if probe["markup"]:
        return "ok", f"markup built by the view or a macro, escaped where it is built (e.g. {samples})"
    if probe["results_text"]:
        return "blind spot", f"shows results text yet the tests pass with it unescaped (e.g. {samples})"
    if all(_NUMBER.fullmatch(s) or s in ("", "\u2014", "n/a") for s in probe["samples"]):
        return "ok", f"a number the view formats (e.g. {samples})"
    return "ok", f"fixed text or a value the view computes, never results text (e.g. {samples})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS), help="test files or node ids to run")
    parser.add_argument("--only", default=None, help="mutate only templates whose path contains this")
    parser.add_argument("--json", default=None, help="write every mutant's outcome and reason here")
    parser.add_argument("--select", choices=("test", "file", "all"), default="test",
                        help="run each mutant against the tests that rendered its expression (default), their files, "
                             "or all the tests given")
    parser.add_argument("--pytest-arg", action="append", default=[], metavar="ARG",
                        help="pass ARG to pytest (repeat), e.g. --pytest-arg=-k --pytest-arg='not cli'")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(Path(args.worker))
        return 0
    exprs = [e for e in expressions() if args.only is None or args.only in e.template]
    print(f"{len(exprs)} template expressions; tests: {' '.join(args.tests)}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="template-mutation-") as tmp:
        root = Path(tmp)
        copy_repository(root)
        plan = root / "mutation-plan.json"
        result_file = root / "mutation-result.json"
        plan.write_text(json.dumps({"expressions": [asdict(e) for e in exprs], "tests": args.tests,
                                    "select": args.select, "pytest_args": args.pytest_arg,
                                    "out": str(result_file)}), encoding="utf-8")
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        run = subprocess.run([sys.executable, str(root / "tools" / "template_safe_mutation.py"), "--worker", str(plan)],
                             cwd=root, env=env)
        if run.returncode != 0 or not result_file.is_file():
            print("the mutation run failed", file=sys.stderr)
            return 2
        result = json.loads(result_file.read_text(encoding="utf-8"))
    if result["failed_while_recording"]:
        print(f"not used to judge mutants (they failed with recording filters, e.g. because they render in another "
              f"process): {' '.join(result['failed_while_recording'])}")
    survivors = [(key, *reason(result["probe"].get(key))) for key in result["survived"]]
    by_verdict: dict[str, list[tuple[str, str]]] = {}
    for key, verdict, why in survivors:
        by_verdict.setdefault(verdict, []).append((key, why))
    print(f"{len(result['killed'])} killed, {len(survivors)} survived "
          f"({', '.join(f'{len(v)} {k}' for k, v in sorted(by_verdict.items()))}) in {time.perf_counter() - t0:.0f} s")
    for verdict in ("blind spot", "not covered", "ok"):
        for key, why in by_verdict.get(verdict, []):
            print(f"[{verdict}] {key}\n    {why}")
    if args.json:
        Path(args.json).write_text(json.dumps({"tests": args.tests, "killed": result["killed"],
                                               "survived": [{"expression": k, "verdict": v, "reason": w}
                                                            for k, v, w in survivors]}, indent=1), encoding="utf-8")
    return 1 if any(v != "ok" for _, v, _ in survivors) else 0


if __name__ == "__main__":
    sys.exit(main())
