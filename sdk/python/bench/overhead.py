"""What the Python SDK costs over raw HTTP for 1,000 launches.

Against a running cluster (AGORA_ADDR, AGORA_TOKEN: an operator token; AGORA_AGENT_TOKEN: an
agent token), it registers a simulated agent through the agent API with room for every task,
then times a framework launching LAUNCHES tasks one per accept on that agent's offers, from
registration to the last accept answered, written one of two ways:
- raw: httpx calls and SSE lines parsed by hand, as a framework without an SDK would;
- sdk: `agora_sdk.Agora`, `Framework.events()` and `Framework.launch()`.
Offers of other agents are declined for an hour. `sdk/bench-overhead` runs each kind on a
fresh `agora dev`, since the server slows as the simulated agent's tasks pile up.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import httpx

from agora_sdk import Agora
from agora_sdk.api.agents import agent_heartbeat, register_agent
from agora_sdk.models import RegisterAgent

# overhead.py [LAUNCHES [raw|sdk|both]]
LAUNCHES = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
ADDR, TOKEN = os.environ["AGORA_ADDR"], os.environ["AGORA_TOKEN"]


def task(n: int, agent_id: str) -> dict:
    return {"task_id": f"t{n}", "agent_id": agent_id, "resources": {"cpus": 0.01, "mem": 1},
            "command": {"shell": "true"}}


def raw(sim: str) -> float:
    start = time.perf_counter()
    with httpx.Client(base_url=ADDR, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
        fw = http.post("/v1/frameworks", json={"name": "overhead-raw"}).json()["framework_id"]
        launched = 0
        with http.stream("GET", f"/v1/frameworks/{fw}/events") as stream:
            event = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "offers":
                    for offer in json.loads(line[5:])["offers"]:
                        if offer["agent_id"] != sim:
                            body = {"offer_ids": [offer["id"]], "filters": {"refuse_secs": 3600}}
                            http.post(f"/v1/frameworks/{fw}/decline", json=body).raise_for_status()
                        elif launched < LAUNCHES:
                            body = {"offer_ids": [offer["id"]],
                                    "operations": [{"type": "launch", "tasks": [task(launched, sim)]}]}
                            http.post(f"/v1/frameworks/{fw}/accept", json=body).raise_for_status()
                            launched += 1
                    if launched == LAUNCHES:
                        break
        elapsed = time.perf_counter() - start
        http.delete(f"/v1/frameworks/{fw}")
    return elapsed


def sdk(sim: str) -> float:
    start = time.perf_counter()
    framework = Agora(ADDR, TOKEN).register_framework("overhead-sdk")
    launched = 0
    for event in framework.events():
        if event.type != "offers":
            continue
        for offer in event.offers:
            if offer.agent_id != sim:
                framework.decline(offer, refuse_secs=3600)
            elif launched < LAUNCHES:
                framework.launch(offer, [task(launched, sim)])
                launched += 1
        if launched == LAUNCHES:
            break
    elapsed = time.perf_counter() - start
    framework.teardown()
    return elapsed


def simulated_agent(agent: Agora, name: str) -> str:
    """Registers a simulated agent with room for every task, and keeps it reachable."""
    body = RegisterAgent.from_dict({"hostname": name, "resources": {"cpus": 1000, "mem": 1000000}})
    sim = agent.call(register_agent, body=body).agent_id

    def heartbeats() -> None:
        while True:
            agent.call(agent_heartbeat, sim)
            time.sleep(1)

    threading.Thread(target=heartbeats, daemon=True).start()
    return sim


def main() -> None:
    kind = sys.argv[2] if len(sys.argv) > 2 else "both"
    agent = Agora(ADDR, os.environ["AGORA_AGENT_TOKEN"])
    for name, run in (("raw", raw), ("sdk", sdk)):
        if kind in (name, "both"):
            seconds = run(simulated_agent(agent, f"sim-{name}"))
            print(f"python {name}: {LAUNCHES} launches in {seconds:.3f} s")


if __name__ == "__main__":
    main()
