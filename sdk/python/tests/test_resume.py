"""A stream cut in the middle of a burst of updates resumes, with `Last-Event-ID`, with every
update once and in order. The updates come from a simulated agent that speaks the real agent
protocol, so the burst is exactly known; the cut is made by a TCP proxy between the SDK and
a real `agora dev`."""

from __future__ import annotations

import pytest

import threading

from agora_sdk import Agora
from agora_sdk.api.agents import agent_updates, register_agent
from agora_sdk.models import RegisterAgent, StatusUpdates

BURST = 1000
CUT_AFTER = 500


# A broken resume shows as events that never come: fail in bounded time.
@pytest.mark.timeout(120)
def test_a_stream_cut_in_a_burst_resumes_with_every_update_once(dev, scratch, proxy_to):
    agent = Agora(dev.url, scratch.token(dev.data_dir, "agent", "sim"))
    body = RegisterAgent.from_dict({"hostname": "sim", "resources": {"cpus": 1, "mem": 1024}})
    sim = agent.call(register_agent, body=body).agent_id

    proxy = proxy_to(dev.url)
    framework = Agora(proxy.url, dev.token).register_framework("sdk-reader")
    events = framework.events()
    for event in events:
        if event.type != "offers":
            continue
        ours = [o for o in event.offers if o.agent_id == sim]
        others = [o for o in event.offers if o.agent_id != sim]
        if others:
            framework.decline(others, refuse_secs=3600)
        if ours:
            task = {"task_id": "burst", "resources": {"cpus": 0.5, "mem": 32}, "command": {"shell": "true"}}
            framework.launch(ours[0], [task])
            break
    staging = next(e for e in events if e.type == "update")
    assert staging.status.state.value == "staging"

    def post_burst() -> None:
        for batch in range(BURST // 50):
            updates = [
                {"task_id": "burst", "framework_id": framework.id, "agent_id": sim, "state": "running",
                 "healthy": n % 2 == 0, "update_id": f"u{n}", "timestamp": 0.0}
                for n in range(batch * 50, batch * 50 + 50)
            ]
            agent.call(agent_updates, sim, body=StatusUpdates.from_dict({"updates": updates}))

    poster = threading.Thread(target=post_burst)
    poster.start()
    seen = []
    for event in events:
        if event.type != "update":
            continue
        seen.append(event.status.update_id)
        if len(seen) == CUT_AFTER:
            proxy.cut()
        if len(seen) == BURST:
            break
    poster.join()
    assert seen == [f"u{n}" for n in range(BURST)], "every update once, in order"
    assert proxy.cuts == 1 and proxy.connections >= 2, "the stream was cut and opened again"
    framework.teardown()
