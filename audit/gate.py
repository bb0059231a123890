"""Gating a pipeline on an audit's checks: which statuses trip the gate, and the exit codes.

``--fail-on fail`` trips on any ``fail`` or ``error`` check (an error means a check could not be
judged, which a gate must not read as a pass); ``--fail-on warn`` also trips on ``warn``;
``--fail-on never`` never trips. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

#: Exit codes of every ``audit`` command.
EXIT_PASS = 0  # finished, and the gate (if any) did not trip
EXIT_TRIPPED = 1  # finished, and a check tripped the --fail-on gate
EXIT_USAGE = 2  # bad command line, unreadable or invalid input (nothing was judged)
EXIT_INTERNAL = 3  # an unexpected error inside the tool (a traceback is printed)

FAIL_ON = ("fail", "warn", "never")
TRIPPING: dict[str, tuple[str, ...]] = {"fail": ("fail", "error"), "warn": ("warn", "fail", "error"), "never": ()}
ORDER = ("pass", "warn", "fail", "error")


@dataclass
class Verdict:
    """The outcome of a gate over a list of checks (plain dicts with name and status)."""

    fail_on: str
    counts: dict[str, int]
    tripping: list[str] = field(default_factory=list)

    @property
    def tripped(self) -> bool:
        return bool(self.tripping)

    @property
    def exit_code(self) -> int:
        return EXIT_TRIPPED if self.tripped else EXIT_PASS

    @property
    def status(self) -> str:
        """The worst status among the checks ("pass" when there are none)."""
        return max((s for s in ORDER if self.counts.get(s)), key=ORDER.index, default="pass")

    def line(self) -> str:
        counts = ", ".join(f"{self.counts.get(s, 0)} {s}" for s in ORDER)
        if self.fail_on == "never":
            gate = "no gate (--fail-on never)"
        elif self.tripped:
            gate = f"gate tripped (--fail-on {self.fail_on}): {len(self.tripping)} check(s) at or above {self.fail_on}"
        else:
            gate = f"gate passed (--fail-on {self.fail_on})"
        return f"overall {self.status} ({counts}); {gate}"

    def to_dict(self) -> dict[str, Any]:
        return {"fail_on": self.fail_on, "status": self.status, "tripped": self.tripped, "counts": dict(self.counts),
                "tripping": list(self.tripping), "exit_code": self.exit_code}


def judge(checks: Iterable[Mapping[str, Any]], fail_on: str = "never") -> Verdict:
    """The gate's verdict on ``checks`` at level ``fail_on``."""
    if fail_on not in TRIPPING:
        raise ValueError(f"--fail-on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}")
    counts = {s: 0 for s in ORDER}
    tripping = []
    for check in checks:
        status = str(check.get("status"))
        if status not in counts:
            raise ValueError(f"check {check.get('name')!r} has an unknown status {status!r}; expected one of {', '.join(ORDER)}")
        counts[status] += 1
        if status in TRIPPING[fail_on]:
            tripping.append(str(check.get("name")))
    return Verdict(fail_on, counts, tripping)


__all__ = ["EXIT_INTERNAL", "EXIT_PASS", "EXIT_TRIPPED", "EXIT_USAGE", "FAIL_ON", "TRIPPING", "Verdict", "judge"]
