import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_explain_texts_example_runs(tiny_dirs):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "explain_texts.py"), "--model", str(tiny_dirs["bert"]), "--steps", "16",
         "not bad at all", "a great cast but a dull plot"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "'not bad at all'" in out.stdout and "rollout" in out.stdout
    assert out.stdout.count("IG ") == 4 + 7
