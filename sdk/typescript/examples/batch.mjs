// A batch framework: runs N tasks on an Agora cluster, retries each failed task up to R times,
// and prints a summary. Exits 0 when every task finished, 1 otherwise.
//
//   AGORA_ADDR=http://127.0.0.1:5050 AGORA_TOKEN=... \
//     node examples/batch.mjs --tasks 20 --retries 2 -- 'echo task $TASK_INDEX'
//
// Each task sees TASK_INDEX (0 to N-1) and ATTEMPT (0 first, then 1, 2, ...).

import { parseArgs } from "node:util";
import { Agora } from "@agora/sdk";

const TERMINAL = new Set(["finished", "failed", "killed", "error", "lost", "gone", "dropped"]);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tasks: { type: "string", default: "10" },
    retries: { type: "string", default: "2" },
    cpus: { type: "string", default: "0.1" },
    mem: { type: "string", default: "32" },
  },
});
const count = Number(values.tasks);
const retries = Number(values.retries);
const cpus = Number(values.cpus);
const mem = Number(values.mem);
const line = positionals.join(" ");

const agora = new Agora({ baseUrl: process.env.AGORA_ADDR, token: process.env.AGORA_TOKEN });
const framework = await agora.registerFramework("batch");
const pending = Array.from({ length: count }, (_, index) => ({ index, attempt: 0 }));
const running = new Map(); // task id -> { index, attempt }
const results = new Map(); // index -> { state, attempts }
let retried = 0;
try {
  for await (const event of framework.events({ acknowledge: true })) {
    if (event.type === "offers") {
      for (const offer of event.offers) {
        const tasks = [];
        let { cpus: freeCpus, mem: freeMem } = offer.resources;
        while (pending.length && freeCpus >= cpus && freeMem >= mem) {
          const { index, attempt } = pending.shift();
          const taskId = `task-${index}-${attempt}`;
          running.set(taskId, { index, attempt });
          tasks.push({ task_id: taskId, resources: { cpus, mem }, command: { shell: line },
            env: { TASK_INDEX: String(index), ATTEMPT: String(attempt) } });
          freeCpus -= cpus;
          freeMem -= mem;
        }
        if (tasks.length) await framework.launch(offer, tasks);
        else await framework.decline(offer);
      }
    } else if (event.type === "update" && running.has(event.status.task_id)) {
      const { state, task_id } = event.status;
      if (!TERMINAL.has(state)) continue;
      const { index, attempt } = running.get(task_id);
      running.delete(task_id);
      if (state !== "finished" && attempt < retries) {
        pending.push({ index, attempt: attempt + 1 });
        retried += 1;
        await framework.revive(); // offers again now, not after the declines' filters
      } else {
        results.set(index, { state, attempts: attempt + 1 });
      }
      if (results.size === count) break;
    }
  }
} finally {
  await framework.teardown();
}

const failed = [...results].filter(([, r]) => r.state !== "finished").sort(([a], [b]) => a - b);
console.log(`${count} tasks: ${count - failed.length} finished, ${failed.length} failed, ${retried} retries`);
for (const [index, { state, attempts }] of failed) console.log(`  task ${index}: ${state} after ${attempts} attempts`);
process.exitCode = failed.length ? 1 : 0;
