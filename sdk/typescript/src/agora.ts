// The framework helper: `Agora`, a client for a cluster (one server or several replicas), and
// `Framework`, a registered framework with its event stream. Every call is made with
// openapi-fetch on the types generated from the OpenAPI document (`schema.ts`); what is written
// by hand is what a generator cannot do: failover between replicas, an event stream that
// resumes with `Last-Event-ID`, typed events and acknowledgements.

import createClient, { type Client } from "openapi-fetch";
import { EventSourceParserStream, type EventSourceMessage } from "eventsource-parser/stream";
import type { components, paths } from "./schema.js";
import { AgoraError, StreamEnded, Unreachable } from "./errors.js";
import { decodeEvent, type FrameworkEvent } from "./events.js";

type Schemas = components["schemas"];
export type Offer = Schemas["Offer"];
export type TaskInfo = Schemas["TaskInfo"];
export type TaskStatus = Schemas["TaskStatus"];
export type Resources = Schemas["Resources"];
export type RegisterFramework = Schemas["RegisterFramework"];
export type Reconciled = Schemas["Reconciled"];
/** A task to launch; without `agent_id`, it gets the (first) offer's. */
export type TaskInput = Omit<TaskInfo, "agent_id"> & { agent_id?: string };
/** An offer, or its id. */
export type OfferRef = Offer | string;

export interface AgoraOptions {
  /** A base URL (`https://agora.example:5050`), a comma-separated list of the replicas, or an
   * array of them: a request that cannot connect to one goes to the next. */
  baseUrl: string | string[];
  /** The bearer token every request carries. */
  token: string;
  /** The fetch to use, for instance one with an undici dispatcher that trusts a private CA in
   * Node (or run Node with `NODE_EXTRA_CA_CERTS=ca.pem`). By default the global fetch. */
  fetch?: typeof globalThis.fetch;
}

export interface EventsOptions {
  /** Acknowledge each update with an `update_id` once the loop is done with it: when the next
   * event is asked for, or the loop is left. An update is never lost, and may come twice. */
  acknowledge?: boolean;
  /** Breaks in a row after which the last error is thrown (up to a second apart). */
  maxReconnects?: number;
}

// Codes with which a server ends a stream that the framework recovers from by resuming.
const RESUMABLE = new Set(["unknown_framework", "store_unavailable"]);
// A stream with no byte for this long (several heartbeats) is taken for dead.
const STREAM_IDLE_MS = 60_000;

/** Base URLs as the CLI reads them: `127.0.0.1:5050` means `http://127.0.0.1:5050`. */
export function parseBaseUrls(baseUrl: string | string[]): string[] {
  const parts = Array.isArray(baseUrl) ? baseUrl : baseUrl.split(",");
  const urls = parts
    .map((part) => part.trim().replace(/\/+$/, ""))
    .filter((part) => part !== "")
    .map((part) => (part.includes("://") ? part : `http://${part}`));
  for (const url of urls) {
    const parsed = new URL(url);
    if (!["http:", "https:"].includes(parsed.protocol) || parsed.search || parsed.hash) {
      throw new TypeError(`${url} is not a base URL: give http(s)://HOST:PORT`);
    }
  }
  if (urls.length === 0) {
    throw new TypeError("no server URL given");
  }
  return urls;
}

/** Whether a request failed before it reached a server, so that sending it again is safe. Node
 * names the socket error in `cause`; a browser says only "failed to fetch", taken as such. */
function connectFailed(error: unknown): boolean {
  if (!(error instanceof TypeError)) {
    return false;
  }
  const code = (error.cause as { code?: string } | undefined)?.code;
  return code === undefined || ["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"].includes(code);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** A client for an Agora cluster. */
export class Agora {
  readonly baseUrls: string[];
  private readonly clients: Client<paths>[];
  private current = 0;

  constructor(options: AgoraOptions) {
    this.baseUrls = parseBaseUrls(options.baseUrl);
    this.clients = this.baseUrls.map((baseUrl) =>
      createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${options.token}` }, fetch: options.fetch }),
    );
  }

  /** The base URL of the replica requests go to now. */
  get baseUrl(): string {
    return this.baseUrls[this.current];
  }

  /** The openapi-fetch client of the replica requests go to now, for any operation. */
  get client(): Client<paths> {
    return this.clients[this.current];
  }

  /**
   * Makes a request with a replica's client (`(c) => c.GET("/v1/tasks", {})`) on a replica that
   * answers, and returns its data. Throws {@link AgoraError} with the server's `code` when it
   * refuses, and {@link Unreachable} when no replica answers.
   */
  async call<T>(request: (client: Client<paths>) => Promise<Answer<T>>): Promise<T> {
    let last: unknown;
    for (let i = 0; i < this.clients.length; i++) {
      const index = (this.current + i) % this.clients.length;
      let answer: Answer<T>;
      try {
        answer = await request(this.clients[index]);
      } catch (error) {
        if (!connectFailed(error)) {
          throw error;
        }
        if (this.current === index) {
          this.current = (index + 1) % this.clients.length;
        }
        last = error;
        continue;
      }
      if (!answer.response.ok) {
        throw AgoraError.fromBody(answer.response.status, answer.error);
      }
      return answer.data as T;
    }
    throw new Unreachable(this.baseUrls, last);
  }

  /** Registers a framework. `options` are the other fields of `RegisterFramework` (`roles`,
   * `id` to register again after a failover, `failover_timeout_secs`, ...). */
  async registerFramework(name: string, options: Partial<RegisterFramework> = {}): Promise<Framework> {
    const body = { ...options, name } as RegisterFramework;
    const registered = await this.call((c) => c.POST("/v1/frameworks", { body }));
    return new Framework(this, registered.framework_id, { ...body, id: registered.framework_id });
  }
}

function offerIds(offers: OfferRef | OfferRef[]): string[] {
  return (Array.isArray(offers) ? offers : [offers]).map((o) => (typeof o === "string" ? o : o.id));
}

function filters(refuseSecs?: number): { filters?: { refuse_secs: number } } {
  return refuseSecs === undefined ? {} : { filters: { refuse_secs: refuseSecs } };
}

/** A registered framework: its event stream, and what it does with offers and tasks. */
export class Framework {
  constructor(
    readonly agora: Agora,
    readonly id: string,
    private readonly registration: RegisterFramework,
  ) {}

  /**
   * The framework's events, typed, for as long as it lives. A broken stream is resumed after
   * the last event read (`Last-Event-ID`), on the next replica if this one is gone; a server
   * that lost the framework gets it registered again under its id. Ends by throwing
   * {@link StreamEnded} when the server ends the stream for good (the framework was torn down).
   */
  async *events(options: EventsOptions = {}): AsyncGenerator<FrameworkEvent> {
    const { acknowledge = false, maxReconnects = 60 } = options;
    const state: { lastEventId?: string; reconnects: number } = { reconnects: 0 };
    for (;;) {
      let broke: unknown = new Error("the event stream ended");
      try {
        for await (const message of this.open(state)) {
          const event = decodeEvent(message.event ?? "message", message.data, message.id);
          if (event === undefined) {
            continue;
          }
          if (message.id) {
            state.lastEventId = message.id;
          }
          state.reconnects = 0;
          try {
            yield event;
          } finally {
            // Handled: the loop asked for the next event, or was left (`break` ends the
            // generator, and an update handled last must not come again).
            if (acknowledge && event.type === "update" && event.status.update_id) {
              await this.acknowledgeQuietly(event.status);
            }
          }
        }
      } catch (error) {
        if (error instanceof StreamEnded && !RESUMABLE.has(error.code)) {
          throw error;
        }
        // A refusal that resuming cannot cure: a bad token, a forbidden framework.
        const refused = error instanceof AgoraError && !(error instanceof StreamEnded);
        if (refused && error.status >= 400 && error.status < 500 && ![404, 429].includes(error.status)) {
          throw error;
        }
        broke = error;
      }
      state.reconnects += 1;
      if (state.reconnects > maxReconnects) {
        throw broke;
      }
      await sleep(100 * Math.min(state.reconnects, 10));
    }
  }

  /** The SSE messages of one connection, opened after the last event read. */
  private async *open(state: { lastEventId?: string }): AsyncGenerator<EventSourceMessage> {
    const idle = new AbortController();
    let timer = setTimeout(() => idle.abort(), STREAM_IDLE_MS);
    const header = state.lastEventId ? { "Last-Event-ID": state.lastEventId } : {};
    try {
      const body = await this.agora
        .call((c) =>
          c.GET("/v1/frameworks/{id}/events", {
            params: { path: { id: this.id }, header },
            parseAs: "stream",
            signal: idle.signal,
          }),
        )
        .catch(async (error: unknown) => {
          if (error instanceof AgoraError && error.status === 404) {
            // The server lost the framework: register it again under its id.
            await this.agora.call((c) => c.POST("/v1/frameworks", { body: this.registration }));
            state.lastEventId = undefined;
          }
          throw error;
        });
      const reader = (body as unknown as ReadableStream<BufferSource>)
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(new EventSourceParserStream())
        .getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            return;
          }
          clearTimeout(timer);
          timer = setTimeout(() => idle.abort(), STREAM_IDLE_MS);
          yield value;
        }
      } finally {
        reader.cancel().catch(() => undefined);
      }
    } finally {
      clearTimeout(timer);
      idle.abort();
    }
  }

  private async acknowledgeQuietly(status: TaskStatus): Promise<void> {
    try {
      await this.acknowledge(status);
    } catch {
      // Not fatal: the agent sends the update again, and it is acknowledged then.
    }
  }

  /** Launches tasks on offers (all of one agent). A task without `agent_id` gets the offer's. */
  async launch(offers: OfferRef | OfferRef[], tasks: TaskInput[], options: { refuseSecs?: number } = {}): Promise<void> {
    const first = Array.isArray(offers) ? offers[0] : offers;
    const agentId = typeof first === "string" ? undefined : first.agent_id;
    const full = tasks.map((task) => ({ ...task, agent_id: task.agent_id ?? agentId }) as TaskInfo);
    const body = { offer_ids: offerIds(offers), operations: [{ type: "launch" as const, tasks: full }], ...filters(options.refuseSecs) };
    await this.agora.call((c) => c.POST("/v1/frameworks/{id}/accept", { params: { path: { id: this.id } }, body }));
  }

  /** Declines offers; their resources are not offered again for `refuseSecs` (5 s by default). */
  async decline(offers: OfferRef | OfferRef[], options: { refuseSecs?: number } = {}): Promise<void> {
    const body = { offer_ids: offerIds(offers), ...filters(options.refuseSecs) };
    await this.agora.call((c) => c.POST("/v1/frameworks/{id}/decline", { params: { path: { id: this.id } }, body }));
  }

  /** Acknowledges a status update (`events({ acknowledge: true })` does it for you). */
  async acknowledge(status: TaskStatus): Promise<void> {
    if (!status.update_id) {
      return;
    }
    const body = { task_id: status.task_id, agent_id: status.agent_id, update_id: status.update_id };
    await this.agora.call((c) => c.POST("/v1/frameworks/{id}/acknowledge", { params: { path: { id: this.id } }, body }));
  }

  /** Kills a task: SIGTERM, then SIGKILL after its grace period (or this one). */
  async kill(taskId: string, options: { gracePeriodSecs?: number } = {}): Promise<void> {
    const body = options.gracePeriodSecs === undefined ? {} : { grace_period_secs: options.gracePeriodSecs };
    await this.agora.call((c) =>
      c.POST("/v1/frameworks/{id}/tasks/{task_id}/kill", { params: { path: { id: this.id, task_id: taskId } }, body }),
    );
  }

  /** Asks for the latest status of these tasks (all the framework's when empty). */
  async reconcile(taskIds: string[] = []): Promise<Reconciled> {
    const body = { tasks: taskIds.map((task_id) => ({ task_id })) };
    return this.agora.call((c) => c.POST("/v1/frameworks/{id}/reconcile", { params: { path: { id: this.id } }, body }));
  }

  /** Asks for offers again (for these roles, all when empty), clearing refuse filters. */
  async revive(roles: string[] = []): Promise<void> {
    await this.agora.call((c) => c.POST("/v1/frameworks/{id}/revive", { params: { path: { id: this.id } }, body: { roles } }));
  }

  /** Stops offers (for these roles, all when empty) until a revive. */
  async suppress(roles: string[] = []): Promise<void> {
    await this.agora.call((c) => c.POST("/v1/frameworks/{id}/suppress", { params: { path: { id: this.id } }, body: { roles } }));
  }

  /** Kills the framework's tasks and forgets it. */
  async teardown(): Promise<void> {
    await this.agora.call((c) => c.DELETE("/v1/frameworks/{id}", { params: { path: { id: this.id } } }));
  }
}
