"""The batch example runs as a user runs it, against a real `agora dev` and its agent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "batch.py"


def run_example(dev, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AGORA_ADDR": dev.url, "AGORA_TOKEN": dev.token}
    return subprocess.run([sys.executable, str(EXAMPLE), *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_batch_example_retries_failed_tasks_and_prints_a_summary(dev):
    # Every third task fails its first attempt, and finishes when retried.
    flaky = 'test "$ATTEMPT" -ge 1 || test $((TASK_INDEX % 3)) -ne 0'
    done = run_example(dev, "--tasks", "12", "--retries", "2", "--", flaky)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["12 tasks: 12 finished, 0 failed, 4 retries"]


def test_the_batch_example_gives_up_after_its_retries(dev):
    done = run_example(dev, "--tasks", "3", "--retries", "1", "--", 'test "$TASK_INDEX" -ne 1')
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "3 tasks: 2 finished, 1 failed, 1 retries",
        "  task 1: failed after 2 attempts",
    ]
