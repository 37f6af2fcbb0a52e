// What the TypeScript SDK costs over raw HTTP for 1,000 launches, in one run: the twin of
// sdk/python/bench/overhead.py (same cluster, same method). Raw: fetch and SSE lines parsed by
// hand; SDK: `Agora`, `Framework.events()` and `Framework.launch()`. Run after `npm run build`.
//   AGORA_ADDR=... AGORA_TOKEN=... AGORA_AGENT_TOKEN=... node bench/overhead.mjs [LAUNCHES [raw|sdk|both]]

import { Agora } from "../dist/index.js";

const LAUNCHES = Number(process.argv[2] ?? 1000);
const { AGORA_ADDR: ADDR, AGORA_TOKEN: TOKEN, AGORA_AGENT_TOKEN: AGENT_TOKEN } = process.env;
const headers = { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" };

const task = (n, agentId) => ({ task_id: `t${n}`, agent_id: agentId, resources: { cpus: 0.01, mem: 1 }, command: { shell: "true" } });

async function post(path, body) {
  const response = await fetch(ADDR + path, { method: "POST", headers, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
}

async function raw(sim) {
  const start = performance.now();
  const registered = await fetch(`${ADDR}/v1/frameworks`, { method: "POST", headers, body: JSON.stringify({ name: "overhead-raw" }) });
  const { framework_id: fw } = await registered.json();
  const stream = await fetch(`${ADDR}/v1/frameworks/${fw}/events`, { headers });
  const reader = stream.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event;
  let launched = 0;
  while (launched < LAUNCHES) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the stream ended");
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:") && event === "offers") {
        for (const offer of JSON.parse(line.slice(5)).offers) {
          if (offer.agent_id !== sim) await post(`/v1/frameworks/${fw}/decline`, { offer_ids: [offer.id], filters: { refuse_secs: 3600 } });
          else if (launched < LAUNCHES) {
            await post(`/v1/frameworks/${fw}/accept`, { offer_ids: [offer.id], operations: [{ type: "launch", tasks: [task(launched, sim)] }] });
            launched += 1;
          }
        }
      }
    }
  }
  const elapsed = (performance.now() - start) / 1000;
  await reader.cancel();
  await fetch(`${ADDR}/v1/frameworks/${fw}`, { method: "DELETE", headers });
  return elapsed;
}

async function sdk(sim) {
  const start = performance.now();
  const framework = await new Agora({ baseUrl: ADDR, token: TOKEN }).registerFramework("overhead-sdk");
  let launched = 0;
  for await (const event of framework.events()) {
    if (event.type !== "offers") continue;
    for (const offer of event.offers) {
      if (offer.agent_id !== sim) await framework.decline(offer, { refuseSecs: 3600 });
      else if (launched < LAUNCHES) {
        await framework.launch(offer, [task(launched, sim)]);
        launched += 1;
      }
    }
    if (launched === LAUNCHES) break;
  }
  const elapsed = (performance.now() - start) / 1000;
  await framework.teardown();
  return elapsed;
}

/** Registers a simulated agent with room for every task, and keeps it reachable. */
async function simulatedAgent(agent, name) {
  const { agent_id: sim } = await agent.call((c) => c.POST("/v1/agents", { body: { hostname: name, resources: { cpus: 1000, mem: 1000000 } } }));
  setInterval(() => agent.call((c) => c.POST("/v1/agents/{id}/heartbeat", { params: { path: { id: sim } } })).catch(() => {}), 1000).unref();
  return sim;
}

const kind = process.argv[3] ?? "both";
const agent = new Agora({ baseUrl: ADDR, token: AGENT_TOKEN });
for (const [name, run] of [["raw", raw], ["sdk", sdk]]) {
  if (kind !== name && kind !== "both") continue;
  const seconds = await run(await simulatedAgent(agent, `sim-${name}`));
  console.log(`typescript ${name}: ${LAUNCHES} launches in ${seconds.toFixed(3)} s`);
}
