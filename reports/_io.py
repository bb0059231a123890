"""Reading results.json and writing the report atomically."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from ._render import check_schema_version, render


class ResultsError(ValueError):
    """A results file that cannot be read or rendered."""


def load_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a results.json file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{p}: not UTF-8 text ({exc.reason})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{p}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise ResultsError(f"{p}: expected a JSON object at the top level, got {type(data).__name__}")
    if "schema_version" not in data:
        raise ResultsError(f"{p}: missing 'schema_version'; is this a results.json written by an audit?")
    try:
        check_schema_version(data["schema_version"], str(p))
    except ValueError as exc:
        raise ResultsError(str(exc)) from exc
    return data


def write_report(result: Any, path: str | os.PathLike[str]) -> Path:
    """Render results and write the HTML to ``path`` atomically; return the path.

    The page is rendered first, then written to a temporary file in the same directory,
    flushed to disk and moved into place, so ``path`` is never left half-written.
    """
    return write_text_atomic(render(result), path)


def write_text_atomic(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` as UTF-8 to ``path`` through a temporary file in the same directory."""
    target = Path(path)
    html = text.encode("utf-8")
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(html)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return target


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
