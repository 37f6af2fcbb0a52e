// A stream cut in the middle of a burst of updates resumes, with `Last-Event-ID`, with every
// update once and in order. The updates come from a simulated agent speaking the real agent
// protocol (through the generated types), so the burst is exactly known; a TCP proxy between
// the SDK and a real `agora dev` makes the cut.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Agora } from "../dist/index.js";
import { Proxy, Scratch, startDev } from "./cluster.mjs";

const BURST = 1000;
const CUT_AFTER = 500;

test("a stream cut in a burst resumes with every update once", { timeout: 120_000 }, async (t) => {
  const scratch = new Scratch();
  t.after(() => scratch.close());
  const dev = await startDev(scratch);
  const agent = new Agora({ baseUrl: dev.url, token: scratch.token(dev.dataDir, "agent", "sim") });
  const { agent_id: sim } = await agent.call((c) =>
    c.POST("/v1/agents", { body: { hostname: "sim", resources: { cpus: 1, mem: 1024 } } }),
  );
  const proxy = await Proxy.start(dev.url);
  t.after(() => proxy.close());
  const framework = await new Agora({ baseUrl: proxy.url, token: dev.token }).registerFramework("ts-reader");
  const events = framework.events();
  for (;;) {
    const { value: event } = await events.next();
    if (event.type !== "offers") continue;
    const ours = event.offers.filter((o) => o.agent_id === sim);
    const others = event.offers.filter((o) => o.agent_id !== sim);
    if (others.length) await framework.decline(others, { refuseSecs: 3600 });
    if (ours.length) {
      await framework.launch(ours[0], [{ task_id: "burst", resources: { cpus: 0.5, mem: 32 }, command: { shell: "true" } }]);
      break;
    }
  }
  for (;;) {
    const { value: event } = await events.next();
    if (event.type === "update") {
      assert.equal(event.status.state, "staging");
      break;
    }
  }
  const poster = (async () => {
    for (let batch = 0; batch < BURST / 50; batch++) {
      const updates = Array.from({ length: 50 }, (_, i) => {
        const n = batch * 50 + i;
        return { task_id: "burst", framework_id: framework.id, agent_id: sim, state: "running", healthy: n % 2 === 0,
          update_id: `u${n}`, timestamp: 0 };
      });
      await agent.call((c) => c.POST("/v1/agents/{id}/updates", { params: { path: { id: sim } }, body: { updates } }));
    }
  })();
  const seen = [];
  while (seen.length < BURST) {
    const { value: event } = await events.next();
    if (event.type !== "update") continue;
    seen.push(event.status.update_id);
    if (seen.length === CUT_AFTER) proxy.cut();
  }
  await poster;
  await events.return(undefined);
  assert.deepEqual(seen, Array.from({ length: BURST }, (_, n) => `u${n}`), "every update once, in order");
  assert.ok(proxy.cuts >= 1 && proxy.connections >= 2, "the stream was cut and opened again");
  await framework.teardown();
});
