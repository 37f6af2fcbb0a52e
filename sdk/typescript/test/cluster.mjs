// Real clusters for the SDK's tests: `agora dev` (a server and an agent on the embedded store),
// or `agora server` replicas on a real `redis-server` with a real `agora agent`; and a TCP
// proxy that can cut every connection through it. The `agora` binary is `$AGORA_BIN`, else the
// debug build under `$CARGO_TARGET_DIR` (or the workspace's `target/`).

import { spawn, execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const DEADLINE_MS = 60_000;

export function agoraBin() {
  if (process.env.AGORA_BIN) return process.env.AGORA_BIN;
  const path = join(process.env.CARGO_TARGET_DIR || join(REPO, "target"), "debug", "agora");
  if (!existsSync(path)) throw new Error(`no agora binary at ${path}: run \`cargo build -p agora\`, or set AGORA_BIN`);
  return path;
}

/** Polls `check` until it gives a value other than undefined, within a deadline. */
export async function eventually(what, check, withinMs = DEADLINE_MS) {
  const until = Date.now() + withinMs;
  for (;;) {
    const found = await check();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readText(path) {
  try {
    return readFileSync(path, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A test's directory, open to the tasks (which run as `nobody` under root), and its processes. */
export class Scratch {
  constructor() {
    this.path = mkdtempSync(join(tmpdir(), "agora-sdk-ts-"));
    chmodSync(this.path, 0o777);
    this.processes = [];
  }

  spawn(name, args) {
    const child = spawn(args[0], args.slice(1), {
      stdio: ["ignore", openSync(join(this.path, `${name}.stdout`), "w"), openSync(join(this.path, `${name}.stderr`), "w")],
      env: { ...process.env, AGORA_LOG: "info" },
    });
    this.processes.push(child);
    return child;
  }

  token(dataDir, kind, name) {
    return execFileSync(agoraBin(), ["token", "issue", "--kind", kind, "--name", name, "--data-dir", dataDir]).toString().trim();
  }

  async close() {
    for (const child of this.processes.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** `agora dev` with its built-in agent: `url`, `token` (the admin token), `dataDir`. */
export async function startDev(scratch, extra = []) {
  const dataDir = join(scratch.path, "data");
  const child = scratch.spawn("dev", [agoraBin(), "dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
    "--agent-work-dir", join(scratch.path, "agent"), "--resources", "cpus:4,mem:4096,disk:1024", ...extra]);
  const url = await eventually("agora dev to write its address", () => {
    if (child.exitCode !== null) throw new Error(`agora dev exited: ${readText(join(scratch.path, "dev.stderr"))}`);
    return readText(join(dataDir, "address"));
  });
  const token = await eventually("the admin token", () => readText(join(dataDir, "admin.token")));
  return { url, token, dataDir };
}

/** Starts `agora server` on a free port and waits for the line that says where it listens. */
export async function startServer(scratch, name, args) {
  const child = scratch.spawn(name, [agoraBin(), "server", "--listen", "127.0.0.1:0", ...args]);
  const prefix = "Agora server listening at ";
  const url = await eventually(`${name} to listen`, () => {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${readText(join(scratch.path, `${name}.stderr`))}`);
    const line = (readText(join(scratch.path, `${name}.stdout`)) || "").split("\n").find((l) => l.startsWith(prefix));
    return line?.slice(prefix.length).trim();
  });
  return { child, url };
}

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** Two `agora server` replicas on one real `redis-server`, and one `agora agent`. */
export async function startReplicas(scratch, n = 2) {
  const dataDir = join(scratch.path, "data");
  const redisDir = join(scratch.path, "redis");
  mkdirSync(redisDir);
  const redisPort = await freePort();
  scratch.spawn("redis", ["redis-server", "--port", String(redisPort), "--bind", "127.0.0.1", "--dir", redisDir,
    "--save", "", "--appendonly", "no"]);
  const store = `redis://127.0.0.1:${redisPort}/0?prefix=agora-sdk-ts`;
  const servers = [];
  for (let i = 0; i < n; i++) {
    // One at a time: the first makes the cluster key the others then read.
    servers.push(await startServer(scratch, `server${i}`, ["--data-dir", dataDir, "--store", store, "--lease-ttl", "2",
      "--heartbeat-interval", "1", "--max-connections-per-address", "0"]));
  }
  const urls = servers.map((s) => s.url);
  const tokenFile = join(scratch.path, "agent.token");
  writeFileSync(tokenFile, scratch.token(dataDir, "agent", "node-a"));
  scratch.spawn("agent", [agoraBin(), "agent", "--master", urls.join(","), "--resources", "cpus:4,mem:4096,disk:1024",
    "--hostname", "node-a", "--token-file", tokenFile, "--work-dir", join(scratch.path, "agents", "node-a")]);
  return { urls, servers, token: scratch.token(dataDir, "operator", "admin"), dataDir };
}

/** A TCP proxy in front of `upstream`: `cut()` closes every connection through it. */
export class Proxy {
  static async start(upstream) {
    const proxy = new Proxy(new URL(upstream));
    await new Promise((r) => proxy.server.listen(0, "127.0.0.1", r));
    proxy.url = `http://127.0.0.1:${proxy.server.address().port}`;
    return proxy;
  }

  constructor(upstream) {
    this.sockets = new Set();
    this.connections = 0;
    this.cuts = 0;
    this.server = net.createServer((client) => {
      this.connections += 1;
      const server = net.connect(Number(upstream.port), upstream.hostname);
      for (const [a, b] of [[client, server], [server, client]]) {
        this.sockets.add(a);
        a.on("error", () => b.destroy());
        a.on("close", () => {
          this.sockets.delete(a);
          b.destroy();
        });
      }
      client.pipe(server);
      server.pipe(client);
    });
  }

  cut() {
    this.cuts += 1;
    for (const socket of this.sockets) socket.destroy();
  }

  close() {
    this.cut();
    this.server.close();
  }
}
