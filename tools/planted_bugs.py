"""Check that the test suite catches deliberately planted bugs (a developer tool, not run in CI).

Each ``tools/planted_bugs/<name>.patch`` is a unified diff (as ``git diff`` writes it) that plants one
bug, preceded by header lines: a one-line description and one or more lines
``Caught-by: tests/path.py::test_name`` naming the tests that must fail with the patch applied (and
pass without it). ``git apply`` skips the header.

For each patch the runner makes a fresh copy of the repository's tracked files (``HEAD``; with
``--worktree`` the working tree's tracked and untracked, not ignored, files as they are now), applies
the patch there with ``git apply``, runs ``python -m pytest -q -x <Caught-by tests>`` with this
interpreter, and prints a table: caught (a named test failed), SURVIVED (all passed), or why the
check could not be made. ``--check-clean`` first runs the named tests on the unpatched copy, where
they must pass; ``--each`` runs every named test on its own and requires each of them to fail.

    python tools/planted_bugs.py                      # every patch, against HEAD
    python tools/planted_bugs.py --worktree --check-clean ghost-clip-factor-uncapped

Exit status: 0 when every patch was caught, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATCH_DIR = ROOT / "tools" / "planted_bugs"


@dataclass
class PlantedBug:
    name: str
    path: Path
    description: str = ""
    caught_by: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    bug: PlantedBug
    result: str  # "caught", "SURVIVED", "patch does not apply", "fails on clean code", "error: ..."
    detail: str = ""
    seconds: float = 0.0

    @property
    def caught(self) -> bool:
        return self.result == "caught"


def read_patch(path: Path) -> PlantedBug:
    """The header of a planted-bug patch: its description and the tests that must catch it."""
    bug = PlantedBug(name=path.name.removesuffix(".patch"), path=path)
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(("diff --git ", "--- ", "Index: ")):
            break
        text = line.strip()
        if text.lower().startswith("caught-by:"):
            bug.caught_by += text.split(":", 1)[1].split()
        elif text and not bug.description:
            bug.description = text
    return bug


def find_patches(names: list[str]) -> list[Path]:
    if not names:
        return sorted(PATCH_DIR.glob("*.patch"))
    out = []
    for name in names:
        candidates = [Path(name), PATCH_DIR / name, PATCH_DIR / f"{name}.patch"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise SystemExit(f"no planted-bug patch {name!r} (looked for {', '.join(str(c) for c in candidates)})")
        out.append(found.resolve())
    return out


def _git(*args: str, cwd: Path = ROOT) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True).stdout


def snapshot(dest: Path, worktree: bool) -> None:
    """Copy the repository's files into ``dest``: ``HEAD``, or the working tree's non-ignored files."""
    dest.mkdir(parents=True)
    if not worktree:
        with tarfile.open(fileobj=BytesIO(_git("archive", "--format=tar", "HEAD"))) as tar:
            tar.extractall(dest, filter="data")
        return
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split(b"\0")
    for raw in filter(None, listed):
        rel = raw.decode("utf-8", "surrogateescape")
        src = ROOT / rel
        if src.is_file() and not src.is_symlink():  # a tracked file deleted in the working tree stays deleted
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["GIT_CEILING_DIRECTORIES"] = str(copy.parent)  # git apply treats the copy as a plain directory
    env.pop("PYTHONPATH", None)  # the copy's own code is imported (python -m runs from the copy's root)
    return env


def run_tests(copy: Path, tests: list[str], *, stop_first: bool, timeout: float) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(["-x"] if stop_first else []), *tests]
    try:
        proc = subprocess.run(cmd, cwd=copy, env=_env(copy), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:.0f} s"
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return proc.returncode, lines[-1] if lines else ""


def apply_patch(copy: Path, patch: Path) -> str | None:
    """Apply ``patch`` in ``copy``; the reason when it does not apply."""
    proc = subprocess.run(["git", "apply", "--whitespace=nowarn", str(patch)], cwd=copy, env=_env(copy),
                          capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["git apply failed"])[0]


# pytest exit codes: 0 all passed, 1 some failed, 2 interrupted (e.g. collection errors), 3 internal error,
# 4 usage error (e.g. a test that does not exist), 5 no tests collected
def _verdict(rc: int, tail: str) -> tuple[str, str]:
    if rc == 0:
        return "SURVIVED", tail
    if rc == 1:
        return "caught", tail
    if rc == -1:
        return "error: timeout", tail
    return f"error: pytest exit {rc}", tail


def check(bug: PlantedBug, base: Path, work: Path, *, check_clean: bool, each: bool, timeout: float) -> Outcome:
    start = time.perf_counter()
    if not bug.caught_by:
        return Outcome(bug, "error: no Caught-by line")
    copy = work / bug.name
    shutil.copytree(base, copy)
    try:
        problem = apply_patch(copy, bug.path)
        if problem is not None:
            return Outcome(bug, "patch does not apply", problem, time.perf_counter() - start)
        if check_clean:
            rc, tail = run_tests(base, bug.caught_by, stop_first=False, timeout=timeout)
            if rc != 0:
                return Outcome(bug, "fails on clean code", tail, time.perf_counter() - start)
        if not each:
            result, detail = _verdict(*run_tests(copy, bug.caught_by, stop_first=True, timeout=timeout))
            return Outcome(bug, result, detail, time.perf_counter() - start)
        missed = []
        for test in bug.caught_by:
            result, detail = _verdict(*run_tests(copy, [test], stop_first=True, timeout=timeout))
            if result != "caught":
                missed.append(f"{test}: {result} ({detail})")
        if missed:
            verdict = "SURVIVED" if all(": SURVIVED" in m for m in missed) else "error: see detail"
            return Outcome(bug, verdict, "; ".join(missed), time.perf_counter() - start)
        return Outcome(bug, "caught", f"each of {len(bug.caught_by)} tests failed", time.perf_counter() - start)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def print_table(outcomes: list[Outcome]) -> None:
    print("| patch | description | caught by | result | seconds |")
    print("|---|---|---|---|---|")
    for o in outcomes:
        tests = "<br>".join(o.bug.caught_by) or "(none)"
        result = o.result + (f" ({o.detail})" if o.detail and not o.caught else "")
        print(f"| {o.bug.name} | {o.bug.description} | {tests} | {result} | {o.seconds:.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("patches", nargs="*", help="patch names or paths (default: every tools/planted_bugs/*.patch)")
    parser.add_argument("--worktree", action="store_true", help="test the working tree as it is now instead of HEAD")
    parser.add_argument("--check-clean", action="store_true", help="first check that the named tests pass without the patch")
    parser.add_argument("--each", action="store_true", help="run each named test on its own; every one of them must fail")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed for one pytest run (default 1800)")
    args = parser.parse_args(argv)

    bugs = [read_patch(p) for p in find_patches(args.patches)]
    if not bugs:
        print(f"no patches in {PATCH_DIR}", file=sys.stderr)
        return 1
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="planted-bugs-") as tmp:
        base = Path(tmp) / "clean"
        snapshot(base, args.worktree)
        for i, bug in enumerate(bugs, 1):
            print(f"[{i}/{len(bugs)}] {bug.name} ...", end=" ", file=sys.stderr, flush=True)
            outcome = check(bug, base, Path(tmp), check_clean=args.check_clean, each=args.each, timeout=args.timeout)
            print(f"{outcome.result} ({outcome.seconds:.0f} s)", file=sys.stderr, flush=True)
            outcomes.append(outcome)
    print_table(outcomes)
    caught = sum(o.caught for o in outcomes)
    print(f"\n{caught} of {len(outcomes)} planted bugs caught", file=sys.stderr)
    return 0 if caught == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
