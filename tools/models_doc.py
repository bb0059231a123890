"""Regenerate the compatibility table of docs/models.md by running the model matrix.

    python tools/models_doc.py

Runs ``tests/test_model_matrix.py`` (about two minutes on 2 CPU cores), then writes the table of
what each architecture and tokenizer family did in each command between the page's matrix markers.
The page is never edited by hand between those markers; the matrix test fails when it is stale.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "matrix.json"
        env = dict(os.environ, AUDIT_MATRIX_RECORD=str(record), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "tests/test_model_matrix.py"], cwd=ROOT, env=env)
        if rc != 0 or not record.is_file():
            print("models_doc: the matrix did not pass; docs/models.md is unchanged", file=sys.stderr)
            return rc or 1
        records = json.loads(record.read_text(encoding="utf-8"))
    sys.path.insert(0, str(ROOT / "tests"))
    from test_model_matrix import DOC, render_doc

    DOC.write_text(render_doc(records, DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"models_doc: wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
