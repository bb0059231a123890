"""AuditResult: everything an audit found, as plain data that round-trips through results.json."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._util import atomic_write_json

SCHEMA_VERSION = 1
STATUSES = ("pass", "warn", "fail", "error")
#: Stages of ``run.timings`` that follow one another; their seconds add up to ``run.wall_time_s``.
#: Every other key of ``run.timings`` is a part of ``"audit"`` (``evaluate``, ``explain``, one key per
#: analysis, each prefixed ``"<model>."`` when several models are audited).
SEQUENTIAL_STAGES = ("data", "load", "train", "train_private", "audit", "personal_data", "render")


@dataclass
class Check:
    """One pass/warn/fail line of the report's summary."""

    name: str
    status: str
    value: Any = None
    threshold: Any = None
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AuditResult:
    """The whole audit: run info, data identity, one section per model, checks and limitations."""

    run: dict[str, Any]
    data: dict[str, Any]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    #: Which sections serve as evidence under which EU AI Act headings (see ``reports.regulatory``).
    regulatory_map: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "schema_version": self.schema_version,
                "run": self.run,
                "data": self.data,
                "models": self.models,
                "checks": [c.to_dict() if isinstance(c, Check) else dict(c) for c in self.checks],
                "limitations": list(self.limitations),
            }
            | ({"regulatory_map": self.regulatory_map} if self.regulatory_map else {})
        )

    def record_stage(self, stage: str, seconds: float) -> None:
        """Store the seconds a stage took in ``run.timings`` and bring ``run.wall_time_s`` up to date."""
        timings = self.run.setdefault("timings", {})
        timings[stage] = float(seconds)
        self.run["wall_time_s"] = wall_time(timings)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AuditResult":
        version = d.get("schema_version")
        if version is None:
            raise ValueError("not an audit result: schema_version is missing")
        if int(version) > SCHEMA_VERSION:
            raise ValueError(f"results schema_version {version} is newer than this library supports ({SCHEMA_VERSION}); upgrade the library")
        check_timings(d.get("run", {}).get("timings"))
        return cls(
            run=d.get("run", {}), data=d.get("data", {}), models=d.get("models", {}),
            checks=[Check(**c) for c in d.get("checks", [])], limitations=list(d.get("limitations", [])),
            schema_version=int(version), regulatory_map=dict(d.get("regulatory_map") or {}),
        )

    def save(self, path: str | Path) -> Path:
        """Write results.json atomically (temp file + rename)."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "AuditResult":
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    @property
    def status(self) -> str:
        """The worst status among the checks ('pass' when there are none)."""
        order = {s: i for i, s in enumerate(("pass", "warn", "fail", "error"))}
        return max((c.status for c in self.checks), key=order.__getitem__, default="pass")


def wall_time(timings: dict[str, Any]) -> float:
    """The seconds of the sequential stages of ``run.timings`` (:data:`SEQUENTIAL_STAGES`) added up."""
    return float(sum(float(timings[k]) for k in SEQUENTIAL_STAGES if isinstance(timings.get(k), (int, float))))


def check_timings(timings: Any) -> None:
    """``run.timings`` must map stage names to seconds (numbers >= 0, or null); raise ValueError naming the stage."""
    if timings is None:
        return
    if not isinstance(timings, dict):
        raise ValueError(f"run.timings must be an object of stage: seconds, got {type(timings).__name__}")
    for stage, seconds in timings.items():
        if seconds is None:
            continue
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"run.timings[{stage!r}] must be a number of seconds >= 0, got {seconds!r}")


def _clean(obj: Any) -> Any:
    """Make an object strict-JSON safe: NaN/inf become None, tuples lists, numpy scalars Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "to_dict"):
        return _clean(obj.to_dict())
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _clean(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj
