// The SDK in a real browser (Debian's Chromium, driven by playwright-core): a page loads the
// built ESM files through an import map, registers a framework, reads its typed event stream
// from `fetch`, launches a task on a real `agora dev` and sees it finish, then checks an error's
// code. Twice: with the page and the API on one origin (a small server here serves the page and
// passes `/v1/...` through to `agora dev`, as a reverse proxy would), and with the page on
// another origin that `agora dev --cors-origins` allows.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import { extname, join, normalize } from "node:path";
import { test } from "node:test";
import { REPO, Scratch, startDev } from "./cluster.mjs";

const SDK = join(REPO, "sdk", "typescript");
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);

const PAGE = (api, token) => `<!doctype html>
<script type="importmap">
{"imports": {
  "openapi-fetch": "/node_modules/openapi-fetch/dist/index.mjs",
  "eventsource-parser": "/node_modules/eventsource-parser/dist/index.js",
  "eventsource-parser/stream": "/node_modules/eventsource-parser/dist/stream.js"
}}
</script>
<script type="module">
import { Agora, AgoraError } from "/dist/index.js";
const TERMINAL = ["finished", "failed", "killed", "error", "lost", "gone"];
try {
  const agora = new Agora({ baseUrl: ${JSON.stringify(api)} || location.origin, token: ${JSON.stringify(token)} });
  const framework = await agora.registerFramework("in-a-browser");
  const states = [];
  let launched = false;
  for await (const event of framework.events({ acknowledge: true })) {
    if (event.type === "offers" && launched) {
      await framework.decline(event.offers);
    } else if (event.type === "offers") {
      await framework.launch(event.offers[0], [{ task_id: "b", resources: { cpus: 0.1, mem: 32 }, command: { shell: "true" } }]);
      launched = true;
    } else if (event.type === "update") {
      states.push(event.status.state);
      if (TERMINAL.includes(event.status.state)) break;
    }
  }
  let code;
  try {
    await framework.decline("no-such-offer");
  } catch (error) {
    code = error instanceof AgoraError ? error.code : String(error);
  }
  await framework.teardown();
  window.result = { states, code, userAgent: navigator.userAgent };
} catch (error) {
  window.result = { error: String(error && error.stack || error) };
}
</script>`;

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html" };

/** Serves the page and the modules on `port` (0: any), and passes `/v1/...` through to
 * `upstream`; the page calls `api`, or its own origin when that is empty. */
async function pageServer(upstream, api, token, port = 0) {
  const target = new URL(upstream);
  const server = http.createServer((request, response) => {
    const path = new URL(request.url, "http://page").pathname;
    if (path.startsWith("/v1/")) {
      const proxied = http.request(
        { host: target.hostname, port: target.port, path: request.url, method: request.method, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode, answer.headers);
          answer.pipe(response);
        },
      );
      proxied.on("error", () => response.destroy());
      request.pipe(proxied);
      return;
    }
    if (path === "/") {
      response.writeHead(200, { "content-type": "text/html" }).end(PAGE(api, token));
      return;
    }
    const file = normalize(join(SDK, path));
    const allowed = [join(SDK, "dist"), join(SDK, "node_modules")].some((dir) => file.startsWith(dir + "/"));
    if (!allowed || !existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return server;
}

/** A free port on 127.0.0.1, to give the page's origin before the page is served. */
async function freePort() {
  const probe = http.createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const { port } = probe.address();
  await new Promise((r) => probe.close(r));
  return port;
}

async function runPage(t, { crossOrigin }) {
  const { chromium } = await import("playwright-core");
  const scratch = new Scratch();
  t.after(() => scratch.close());
  const port = await freePort();
  const dev = await startDev(scratch, crossOrigin ? ["--cors-origins", `http://127.0.0.1:${port}`] : []);
  const server = await pageServer(dev.url, crossOrigin ? dev.url : "", dev.token, port);
  t.after(() => server.close());
  // Root has no user namespaces for Chromium's sandbox here; the page is our own.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (message) => logs.push(message.text()));
  page.on("pageerror", (error) => logs.push(String(error)));
  await page.goto(`http://127.0.0.1:${port}/`);
  const handle = await page.waitForFunction(() => window.result, null, { timeout: 60_000 });
  const result = await handle.jsonValue();
  assert.equal(result.error, undefined, `${result.error}\n${logs.join("\n")}`);
  assert.match(result.userAgent, /Chrome/);
  assert.deepEqual(result.states, ["staging", "running", "finished"]);
  assert.equal(result.code, "unknown_offer");
}

const skip = !CHROMIUM && "no Chromium here (apt-get install chromium)";

test("the SDK runs a framework in a real browser, page and API on one origin", { skip, timeout: 120_000 }, (t) =>
  runPage(t, { crossOrigin: false }),
);

test("the SDK runs a framework in a real browser, from an origin the server allows", { skip, timeout: 120_000 }, (t) =>
  runPage(t, { crossOrigin: true }),
);
