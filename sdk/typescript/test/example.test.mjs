// `npm pack` gives an installable tarball; installed into a project of its own, the batch
// example runs against a real `agora dev` and its agent.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { REPO, Scratch, startDev } from "./cluster.mjs";

const SDK = join(REPO, "sdk", "typescript");
let project;
let packed;

before(() => {
  const scratch = (packed = new Scratch());
  project = join(scratch.path, "project");
  mkdirSync(project);
  const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", scratch.path], { cwd: SDK })
    .toString()
    .trim()
    .split("\n")
    .at(-1);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "batch", private: true, type: "module" }));
  // TypeScript and Node's types too, to compile the README's example as a user would.
  const devDependencies = JSON.parse(readFileSync(join(SDK, "package.json"), "utf8")).devDependencies;
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--silent", join(scratch.path, tarball),
    `typescript@${devDependencies.typescript}`, `@types/node@${devDependencies["@types/node"]}`], { cwd: project });
  copyFileSync(join(SDK, "examples", "batch.mjs"), join(project, "batch.mjs"));
});

after(() => packed.close());

function runExample(dev, args) {
  return spawnSync("node", ["batch.mjs", ...args], {
    cwd: project,
    env: { ...process.env, AGORA_ADDR: dev.url, AGORA_TOKEN: dev.token },
    encoding: "utf8",
    timeout: 120_000,
  });
}

test("the batch example retries failed tasks and prints a summary", async (t) => {
  const scratch = new Scratch();
  t.after(() => scratch.close());
  const dev = await startDev(scratch);
  // Every third task fails its first attempt, and finishes when retried.
  const done = runExample(dev, ["--tasks", "12", "--retries", "2", "--", 'test "$ATTEMPT" -ge 1 || test $((TASK_INDEX % 3)) -ne 0']);
  assert.equal(done.status, 0, done.stderr);
  assert.equal(done.stdout, "12 tasks: 12 finished, 0 failed, 4 retries\n");
});

test("the batch example gives up after its retries", async (t) => {
  const scratch = new Scratch();
  t.after(() => scratch.close());
  const dev = await startDev(scratch);
  const done = runExample(dev, ["--tasks", "3", "--retries", "1", "--", 'test "$TASK_INDEX" -ne 1']);
  assert.equal(done.status, 1, done.stderr);
  assert.equal(done.stdout, "3 tasks: 2 finished, 1 failed, 1 retries\n  task 1: failed after 2 attempts\n");
});

test("the README's TypeScript framework compiles and runs as written", async (t) => {
  const scratch = new Scratch();
  t.after(() => scratch.close());
  const dev = await startDev(scratch);
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const start = readme.indexOf("```ts\n") + "```ts\n".length;
  writeFileSync(join(project, "hello.ts"), readme.slice(start, readme.indexOf("```", start)));
  const compiled = spawnSync(join(project, "node_modules", ".bin", "tsc"), ["--strict", "--module", "nodenext",
    "--target", "es2022", "--types", "node", "hello.ts"], { cwd: project, encoding: "utf8" });
  assert.equal(compiled.status, 0, compiled.stdout + compiled.stderr);
  const done = spawnSync("node", ["hello.js"], {
    cwd: project,
    env: { ...process.env, AGORA_ADDR: dev.url, AGORA_TOKEN: dev.token },
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(done.status, 0, done.stderr);
  assert.equal(done.stdout, "hello staging\nhello running\nhello finished\n");
});
