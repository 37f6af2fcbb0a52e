// Failover between two `agora server` replicas on a real Redis: the replica the framework talks
// to is killed while its task runs; the stream resumes on the other with `Last-Event-ID`, the
// task's last update arrives there, and new offers are launched on through it.

import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { execFileSync } from "node:child_process";
import { Agora } from "../dist/index.js";
import { Scratch, startReplicas } from "./cluster.mjs";

const TERMINAL = new Set(["finished", "failed", "killed", "error", "lost", "gone", "dropped"]);
const hasRedis = (() => {
  try {
    execFileSync("redis-server", ["--version"]);
    return true;
  } catch {
    return false;
  }
})();

test("a framework fails over between replicas", { timeout: 120_000, skip: !hasRedis && "redis-server is not installed" }, async (t) => {
  const scratch = new Scratch();
  t.after(() => scratch.close());
  const replicas = await startReplicas(scratch);
  const agora = new Agora({ baseUrl: replicas.urls, token: replicas.token });
  assert.equal(agora.baseUrl, replicas.urls[0]);
  const framework = await agora.registerFramework("ts-failover", { failover_timeout_secs: 600 });
  const marker = join(scratch.path, "go");
  const states = { waiter: [], after: [] };
  const launched = new Set();
  const seen = new Set();
  for await (const event of framework.events({ acknowledge: true })) {
    if (event.type === "offers") {
      const next = !launched.has("waiter") ? "waiter" : states.waiter.at(-1) === "finished" && !launched.has("after") ? "after" : undefined;
      if (next === undefined) {
        await framework.decline(event.offers, { refuseSecs: 1 });
        continue;
      }
      const line = next === "waiter" ? `while [ ! -e ${marker} ]; do sleep 0.1; done` : "true";
      await framework.launch(event.offers[0], [{ task_id: next, resources: { cpus: 0.1, mem: 32 }, command: { shell: line } }]);
      launched.add(next);
    } else if (event.type === "update") {
      const { task_id, state, update_id } = event.status;
      // At least once: an update acknowledged across the failover may come again.
      if (seen.has(update_id)) continue;
      seen.add(update_id);
      states[task_id].push(state);
      if (task_id === "waiter" && state === "running" && !existsSync(marker)) {
        // The replica the framework is connected to dies; then the task ends.
        replicas.servers[0].child.kill("SIGKILL");
        writeFileSync(marker, "");
      }
      if (task_id === "after" && TERMINAL.has(state)) break;
    }
  }
  assert.deepEqual(states.waiter, ["staging", "running", "finished"]);
  assert.deepEqual(states.after, ["staging", "running", "finished"]);
  assert.equal(agora.baseUrl, replicas.urls[1], "requests go to the replica left");
  await framework.teardown();
});
