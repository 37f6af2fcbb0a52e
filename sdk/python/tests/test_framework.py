"""The framework helper against a real `agora dev`: register, launch, typed events, updates
acknowledged, kill, reconcile, teardown, and errors with the server's code."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from agora_sdk import Agora, AgoraError, OffersEvent, StreamEnded, UpdateEvent
from agora_sdk.api.operators import list_tasks
from agora_sdk.models import TaskInfo, TaskState

TERMINAL = {"finished", "failed", "killed", "error", "lost", "gone", "dropped"}
RESEND_WINDOW_SECS = 5.0


def updates_within(framework, seconds: float) -> list:
    """The updates a new stream of the framework gets within `seconds`, read by a daemon
    thread (a blocking stream cannot be given a deadline)."""
    seen: queue.Queue = queue.Queue()

    def read() -> None:
        try:
            for event in framework.events():
                if event.type == "update":
                    seen.put(event.status.state.value)
        except Exception:
            pass

    threading.Thread(target=read, daemon=True).start()
    time.sleep(seconds)
    return list(seen.queue)


def shell(task_id: str, line: str) -> dict:
    return {"task_id": task_id, "name": task_id, "resources": {"cpus": 0.1, "mem": 32}, "command": {"shell": line}}


def test_a_task_runs_to_finished_with_typed_events_and_its_updates_acknowledged(dev):
    agora = Agora(dev.url, dev.token)
    framework = agora.register_framework("sdk-hello")
    states = []
    update_ids = []
    launched = False
    for event in framework.events(acknowledge=True):
        if event.type == "offers":
            assert isinstance(event, OffersEvent)
            if launched:
                framework.decline(event.offers)
                continue
            offer = event.offers[0]
            assert offer.resources.cpus == 4.0
            framework.launch(offer, [shell("hello", "echo hello")])
            launched = True
        elif event.type == "update":
            assert isinstance(event, UpdateEvent)
            assert isinstance(event.status.state, TaskState)
            states.append(event.status.state.value)
            update_ids.append(event.status.update_id)
            if event.status.state.value in TERMINAL:
                break
    assert states == ["staging", "running", "finished"]
    assert all(isinstance(u, str) for u in update_ids)
    # Leaving the loop acknowledged the last update: a new stream gets none of the three again
    # within the agent's resend window (2 s, then 4 s more).
    assert updates_within(framework, RESEND_WINDOW_SECS) == []
    # The task's latest status, through a generated operator call on the same client.
    tasks = agora.call(list_tasks, framework_id=framework.id)
    assert [(t.task_id, t.state.value) for t in tasks.tasks] == [("hello", "finished")]
    framework.teardown()


def test_unacknowledged_updates_come_again_with_the_same_id(dev):
    agora = Agora(dev.url, dev.token)
    framework = agora.register_framework("sdk-forgetful")
    running = []
    for event in framework.events(acknowledge=False):
        if event.type == "offers" and not running:
            framework.launch(event.offers[0], [shell("t", "sleep 60")])
            running.append("launched")
        elif event.type == "update" and event.status.state.value == "running":
            running.append(event.status.update_id)
            if len(running) == 3:
                break
    assert running[1] == running[2]
    framework.teardown()


def test_tasks_given_as_models_are_killed_and_reconciled(dev):
    agora = Agora(dev.url, dev.token)
    framework = agora.register_framework("sdk-killer", roles=["*"])
    launched = False
    for event in framework.events(acknowledge=True):
        if event.type == "offers" and not launched:
            launched = True
            offer = event.offers[0]
            task = TaskInfo.from_dict({**shell("sleeper", "sleep 600"), "agent_id": offer.agent_id})
            framework.launch(offer, [task])
        elif event.type == "update":
            state = event.status.state.value
            if state == "running":
                reconciled = framework.reconcile(["sleeper"])
                assert [s.state.value for s in reconciled.statuses] == ["running"]
                framework.kill("sleeper", grace_period_secs=1)
            elif state in TERMINAL:
                assert state == "killed"
                break
    framework.teardown()


def test_errors_carry_the_servers_code(dev):
    agora = Agora(dev.url, dev.token)
    with pytest.raises(AgoraError) as refused:
        agora.register_framework("bad-role", roles=["a b"])
    assert (refused.value.status, refused.value.code) == (400, "invalid_role")

    framework = agora.register_framework("sdk-errors")
    with pytest.raises(AgoraError) as unknown:
        framework.decline(["no-such-offer"])
    assert unknown.value.code == "unknown_offer"

    with pytest.raises(AgoraError) as unauthorized:
        Agora(dev.url, "not-a-token").register_framework("nobody")
    assert (unauthorized.value.status, unauthorized.value.code) == (401, "unauthorized")

    # A torn-down framework's stream ends for good, with the server's code.
    events = framework.events()
    assert next(events).type == "subscribed"
    framework.teardown()
    with pytest.raises(StreamEnded) as ended:
        for _ in events:
            pass
    assert ended.value.code == "framework_removed"


def test_from_env_finds_the_files_agora_dev_wrote(dev, monkeypatch):
    for name in ("AGORA_ADDR", "AGORA_TOKEN", "AGORA_TOKEN_FILE", "AGORA_CA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGORA_DATA_DIR", str(dev.data_dir))
    framework = Agora.from_env().register_framework("sdk-env")
    assert framework.id
    framework.teardown()

    monkeypatch.setenv("AGORA_ADDR", "http://127.0.0.1:1")
    monkeypatch.setenv("AGORA_TOKEN", dev.token)
    with pytest.raises(Exception):
        Agora.from_env().register_framework("nowhere")
