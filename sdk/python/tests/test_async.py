"""The asyncio twin against a real `agora dev`: the same framework, with `await` and
`async for`; acknowledged updates are not sent again."""

from __future__ import annotations

import asyncio

import pytest

from agora_sdk import AgoraError, AsyncAgora

TERMINAL = {"finished", "failed", "killed", "error", "lost", "gone", "dropped"}

# `agora dev`'s agent resends an unacknowledged update after 2 s, then 4 s more.
RESEND_WINDOW_SECS = 5.0


async def next_update(events, within: float):
    """The next update event, skipping the others, or None when none comes within `within`."""
    loop = asyncio.get_running_loop()
    until = loop.time() + within
    while True:
        try:
            event = await asyncio.wait_for(events.__anext__(), max(0.0, until - loop.time()))
        except asyncio.TimeoutError:
            return None
        if event.type == "update":
            return event
        if event.type == "offers":
            return event


async def test_async_framework_runs_a_task_and_acknowledges_its_updates(dev):
    async with AsyncAgora(dev.url, dev.token) as agora:
        framework = await agora.register_framework("sdk-async")
        events = framework.events(acknowledge=True)
        states = []
        launched = False
        async for event in events:
            if event.type == "offers":
                if launched:
                    await framework.decline(event.offers)
                    continue
                task = {"task_id": "a", "resources": {"cpus": 0.1, "mem": 32}, "command": {"shell": "echo a"}}
                await framework.launch(event.offers[0], [task])
                launched = True
            elif event.type == "update":
                states.append(event.status.state.value)
                if event.status.state.value in TERMINAL:
                    break
        assert states == ["staging", "running", "finished"]
        # Asking for the next event acknowledged the last update; none of the three comes
        # again within the agent's resend window (offers may: they are declined and skipped).
        while True:
            event = await next_update(events, RESEND_WINDOW_SECS)
            if event is None:
                break
            assert event.type == "offers", f"an acknowledged update came again: {event}"
        await framework.teardown()


async def test_async_errors_carry_the_servers_code(dev):
    async with AsyncAgora(dev.url, dev.token) as agora:
        framework = await agora.register_framework("sdk-async-errors")
        with pytest.raises(AgoraError) as unknown:
            await framework.launch("no-such-offer", [{"task_id": "x", "agent_id": "no-such-agent",
                                                      "resources": {"cpus": 0.1}, "command": {"shell": "true"}}])
        assert unknown.value.code == "unknown_offer"
        await framework.teardown()
