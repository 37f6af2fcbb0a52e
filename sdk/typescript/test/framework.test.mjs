// The framework helper against a real `agora dev`: register, launch, typed events, updates
// acknowledged, kill, reconcile, teardown, and errors with the server's code.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Agora, AgoraError, StreamEnded } from "../dist/index.js";
import { Scratch, startDev } from "./cluster.mjs";

const TERMINAL = new Set(["finished", "failed", "killed", "error", "lost", "gone", "dropped"]);
// `agora dev`'s agent resends an unacknowledged update after 2 s, then 4 s more.
const RESEND_WINDOW_MS = 5_000;

const shell = (task_id, line) => ({ task_id, resources: { cpus: 0.1, mem: 32 }, command: { shell: line } });

async function withDev(t) {
  const scratch = new Scratch();
  t.after(() => scratch.close());
  return { scratch, dev: await startDev(scratch) };
}

/** The next event within `ms`, or undefined. */
async function nextWithin(events, ms) {
  let timer;
  const timeout = new Promise((r) => (timer = setTimeout(() => r(undefined), ms)));
  const next = await Promise.race([events.next(), timeout]);
  clearTimeout(timer);
  return next?.value;
}

test("a task runs to finished with typed events, and acknowledged updates are not sent again", async (t) => {
  const { dev } = await withDev(t);
  const agora = new Agora({ baseUrl: dev.url, token: dev.token });
  const framework = await agora.registerFramework("ts-hello");
  const events = framework.events({ acknowledge: true });
  const states = [];
  let launched = false;
  for await (const event of events) {
    if (event.type === "offers") {
      if (launched) {
        await framework.decline(event.offers);
        continue;
      }
      assert.equal(event.offers[0].resources.cpus, 4);
      await framework.launch(event.offers[0], [shell("hello", "echo hello")]);
      launched = true;
    } else if (event.type === "update") {
      states.push(event.status.state);
      if (TERMINAL.has(event.status.state)) break;
    }
  }
  assert.deepEqual(states, ["staging", "running", "finished"]);
  // `break` left the generator: a new one reads on. Nothing of the three comes again.
  const after = framework.events({ acknowledge: true });
  for (;;) {
    const event = await nextWithin(after, RESEND_WINDOW_MS);
    if (event === undefined) break;
    assert.notEqual(event.type, "update", `an acknowledged update came again: ${JSON.stringify(event)}`);
    if (event.type === "offers") await framework.decline(event.offers);
  }
  await after.return(undefined);
  await framework.teardown();
});

test("a task is killed, reconciled first, and the call goes through the generated types", async (t) => {
  const { dev } = await withDev(t);
  const agora = new Agora({ baseUrl: dev.url, token: dev.token });
  const framework = await agora.registerFramework("ts-killer", { roles: ["*"] });
  let launched = false;
  for await (const event of framework.events({ acknowledge: true })) {
    if (event.type === "offers" && !launched) {
      launched = true;
      await framework.launch(event.offers, [shell("sleeper", "sleep 600")]);
    } else if (event.type === "update" && event.status.state === "running") {
      const reconciled = await framework.reconcile(["sleeper"]);
      assert.deepEqual(reconciled.statuses.map((s) => s.state), ["running"]);
      await framework.kill("sleeper", { gracePeriodSecs: 1 });
    } else if (event.type === "update" && TERMINAL.has(event.status.state)) {
      assert.equal(event.status.state, "killed");
      break;
    }
  }
  const tasks = await agora.call((c) => c.GET("/v1/tasks", { params: { query: { framework_id: framework.id } } }));
  assert.deepEqual(tasks.tasks.map((task) => [task.task_id, task.state]), [["sleeper", "killed"]]);
  await framework.teardown();
});

test("errors carry the server's code, and a torn-down framework's stream ends", async (t) => {
  const { dev } = await withDev(t);
  const agora = new Agora({ baseUrl: dev.url, token: dev.token });
  await assert.rejects(agora.registerFramework("bad-role", { roles: ["a b"] }), (e) => {
    assert.ok(e instanceof AgoraError);
    assert.deepEqual([e.status, e.code], [400, "invalid_role"]);
    return true;
  });
  const framework = await agora.registerFramework("ts-errors");
  await assert.rejects(framework.decline("no-such-offer"), (e) => e instanceof AgoraError && e.code === "unknown_offer");
  const stranger = new Agora({ baseUrl: dev.url, token: "not-a-token" });
  await assert.rejects(stranger.registerFramework("nobody"), (e) => e instanceof AgoraError && e.status === 401 && e.code === "unauthorized");

  const events = framework.events();
  assert.equal((await events.next()).value.type, "subscribed");
  await framework.teardown();
  await assert.rejects(
    (async () => {
      for await (const _ of events);
    })(),
    (e) => e instanceof StreamEnded && e.code === "framework_removed",
  );
});
