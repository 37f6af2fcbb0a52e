"""A batch framework: runs N tasks on an Agora cluster, retries each failed task up to R times,
and prints a summary. Exits 0 when every task finished, 1 otherwise.

    python examples/batch.py --tasks 20 --retries 2 -- sh -c 'echo task $TASK_INDEX'

Each task sees TASK_INDEX (0 to N-1) and ATTEMPT (0 first, then 1, 2, ...). The cluster is the
one `Agora.from_env()` finds: AGORA_ADDR and AGORA_TOKEN, or the `agora dev` on this machine.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import deque
from typing import Deque, Dict, List, Tuple

from agora_sdk import Agora

TERMINAL = {"finished", "failed", "killed", "error", "lost", "gone", "dropped"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10, help="how many tasks (default 10)")
    parser.add_argument("--retries", type=int, default=2, help="retries of a failed task (default 2)")
    parser.add_argument("--cpus", type=float, default=0.1)
    parser.add_argument("--mem", type=float, default=32)
    parser.add_argument("command", nargs="+", help="the command each task runs")
    args = parser.parse_args()
    line = " ".join(shlex.quote(word) for word in args.command) if len(args.command) > 1 else args.command[0]

    framework = Agora.from_env().register_framework("batch")
    pending: Deque[Tuple[int, int]] = deque((index, 0) for index in range(args.tasks))
    running: Dict[str, Tuple[int, int]] = {}
    results: Dict[int, Tuple[str, int]] = {}  # by index: the last state and the attempts made
    retried = 0
    try:
        for event in framework.events(acknowledge=True):
            if event.type == "offers":
                for offer in event.offers:
                    tasks: List[dict] = []
                    cpus, mem = offer.resources.cpus, offer.resources.mem
                    while pending and cpus >= args.cpus and mem >= args.mem:
                        index, attempt = pending.popleft()
                        task_id = f"task-{index}-{attempt}"
                        running[task_id] = (index, attempt)
                        tasks.append({
                            "task_id": task_id,
                            "resources": {"cpus": args.cpus, "mem": args.mem},
                            "command": {"shell": line},
                            "env": {"TASK_INDEX": str(index), "ATTEMPT": str(attempt)},
                        })
                        cpus, mem = cpus - args.cpus, mem - args.mem
                    if tasks:
                        framework.launch(offer, tasks)
                    else:
                        framework.decline(offer)
            elif event.type == "update" and event.status.task_id in running:
                state = event.status.state.value
                if state not in TERMINAL:
                    continue
                index, attempt = running.pop(event.status.task_id)
                if state != "finished" and attempt < args.retries:
                    pending.append((index, attempt + 1))
                    retried += 1
                    framework.revive()  # offers again now, not after the declines' filters
                else:
                    results[index] = (state, attempt + 1)
                if len(results) == args.tasks:
                    break
    finally:
        framework.teardown()

    failed = {index: result for index, result in results.items() if result[0] != "finished"}
    print(f"{args.tasks} tasks: {args.tasks - len(failed)} finished, {len(failed)} failed, {retried} retries")
    for index, (state, attempts) in sorted(failed.items()):
        print(f"  task {index}: {state} after {attempts} attempts")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
