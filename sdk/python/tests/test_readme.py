"""The README's Python framework runs as written, against a real `agora dev`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_framework_runs_as_written(dev, scratch):
    text = README.read_text()
    start = text.index("```python\n") + len("```python\n")
    script = scratch.path / "hello.py"
    script.write_text(text[start : text.index("```", start)])
    # As the README runs it: against the `agora dev` whose files it finds (here in the test's
    # data directory rather than ~/.local/share/agora).
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    env["AGORA_DATA_DIR"] = str(dev.data_dir)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello staging\nhello running\nhello finished\n"
