"""Failover between two `agora server` replicas on a real Redis: the replica the framework
talks to is killed while its task runs; the stream resumes on the other with `Last-Event-ID`,
the task's last update arrives there, and new offers are launched on through it."""

from __future__ import annotations

import pytest

from agora_sdk import Agora

TERMINAL = {"finished", "failed", "killed", "error", "lost", "gone", "dropped"}


def task(task_id: str, line: str) -> dict:
    return {"task_id": task_id, "resources": {"cpus": 0.1, "mem": 32}, "command": {"shell": line}}


# A broken resume shows as events that never come: fail in bounded time.
@pytest.mark.timeout(120)
def test_a_framework_fails_over_between_replicas(replicas):
    agora = Agora(replicas.urls, replicas.token)
    assert agora.base_url == replicas.urls[0]
    framework = agora.register_framework("sdk-failover", failover_timeout_secs=600)
    marker = replicas.scratch.path / "go"
    waiting = task("waiter", f"while [ ! -e {marker} ]; do sleep 0.1; done")
    states = {"waiter": [], "after": []}
    launched = set()
    seen = set()
    for event in framework.events(acknowledge=True):
        if event.type == "offers":
            pending = [t for t in ("waiter", "after") if t not in launched and (t == "waiter" or states["waiter"][-1:] == ["finished"])]
            if not pending:
                framework.decline(event.offers, refuse_secs=1)
                continue
            line = waiting if pending[0] == "waiter" else task("after", "true")
            framework.launch(event.offers[0], [line])
            launched.add(pending[0])
        elif event.type == "update":
            status = event.status
            # At least once: an update acknowledged across the failover may come again.
            if status.update_id in seen:
                continue
            seen.add(status.update_id)
            states[status.task_id].append(status.state.value)
            if status.task_id == "waiter" and status.state.value == "running" and agora.base_url == replicas.urls[0]:
                # The replica the framework is connected to dies; then the task ends.
                replicas.kill(0)
                marker.touch()
            if status.task_id == "after" and status.state.value in TERMINAL:
                break
    assert states["waiter"] == ["staging", "running", "finished"]
    assert states["after"] == ["staging", "running", "finished"]
    assert agora.base_url == replicas.urls[1], "requests go to the replica left"
    framework.teardown()
