// The hand-written parts agree with the OpenAPI document they stand beside: each event's data
// type is the schema its `contentSchema` names (checked by the TypeScript compiler), and the
// events the decoder knows are the document's.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodeEvent, parseBaseUrls } from "../dist/index.js";
import { REPO } from "./cluster.mjs";

const SDK = join(REPO, "sdk", "typescript");
const schemas = JSON.parse(readFileSync(join(REPO, "openapi", "agora.json"), "utf8")).components.schemas;
const mapping = schemas.FrameworkStreamEvent.discriminator.mapping;

test("each event's data type is the schema its contentSchema names", () => {
  const checks = Object.entries(mapping)
    .filter(([name]) => name !== "error")
    .map(([name, ref]) => {
      const content = schemas[ref.split("/").at(-1)].properties.data.contentSchema;
      const expected = content ? `components["schemas"]["${content.$ref.split("/").at(-1)}"]` : "Record<string, never>";
      return `const _${name}: Same<EventData["${name}"], ${expected}> = true;`;
    });
  const dir = mkdtempSync(join(SDK, ".typecheck-"));
  try {
    const source = [
      `import type { EventData } from "../src/events.js";`,
      `import type { components } from "../src/schema.js";`,
      `type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;`,
      `// Every event the document names has an entry (a missing one does not compile).`,
      `const _all: Same<keyof EventData, ${Object.keys(mapping).filter((n) => n !== "error").map((n) => `"${n}"`).join(" | ")}> = true;`,
      ...checks,
    ].join("\n");
    writeFileSync(join(dir, "events.ts"), source);
    const config = { extends: "../tsconfig.json", compilerOptions: { noEmit: true, rootDir: ".." }, include: ["events.ts"] };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(config));
    execFileSync(join(SDK, "node_modules", ".bin", "tsc"), ["-p", join(dir, "tsconfig.json")], { stdio: "pipe" });
  } catch (error) {
    assert.fail(`the event types disagree with the document:\n${error.stdout ?? error}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the decoder knows the document's events and ends on `error`", () => {
  for (const name of Object.keys(mapping).filter((n) => n !== "error")) {
    assert.equal(decodeEvent(name, name === "heartbeat" ? "" : "{}", "1-0")?.type, name);
  }
  assert.equal(decodeEvent("from_the_future", "{}"), undefined);
  assert.throws(() => decodeEvent("error", '{"code":"framework_removed","message":"gone"}'), { code: "framework_removed" });
});

test("base URLs are read as the CLI reads them", () => {
  assert.deepEqual(parseBaseUrls("127.0.0.1:5050/"), ["http://127.0.0.1:5050"]);
  assert.deepEqual(parseBaseUrls("https://a:1, https://b:2"), ["https://a:1", "https://b:2"]);
  for (const bad of ["", "ftp://a:1", "http://a:1/?x=1"]) assert.throws(() => parseBaseUrls(bad));
});
