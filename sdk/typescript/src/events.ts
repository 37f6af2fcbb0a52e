// Typed events of a framework's stream (`GET /v1/frameworks/{id}/events`): each is the schema
// its `data` carries (the one the document names in the event's `contentSchema`) with two
// fields more, `type` (the event's name) and `id` (to resume after). Narrow with `event.type`.

import type { components } from "./schema.js";
import { StreamEnded } from "./errors.js";

type Schemas = components["schemas"];

/** The data of each event, by name. A test checks it against the document's `contentSchema`. */
export interface EventData {
  subscribed: Schemas["Subscribed"];
  offers: Schemas["Offers"];
  inverse_offers: Schemas["InverseOffers"];
  rescind: Schemas["Rescind"];
  update: Schemas["Update"];
  failure: Schemas["Failure"];
  heartbeat: Record<string, never>;
}

/** One event of a framework's stream; `type` tells which. */
export type FrameworkEvent = {
  [K in keyof EventData]: { type: K; id?: string } & EventData[K];
}[keyof EventData];

const KNOWN = new Set<string>(["subscribed", "offers", "inverse_offers", "rescind", "update", "failure", "heartbeat"]);

/**
 * The typed event of an SSE message, or `undefined` for an event this version does not know.
 * Throws {@link StreamEnded} for the `error` event, with which the server ends a stream.
 */
export function decodeEvent(name: string, data: string, id?: string): FrameworkEvent | undefined {
  if (name === "error") {
    const body = JSON.parse(data) as { code?: string; message?: string };
    throw new StreamEnded(body.code ?? "error", body.message ?? "");
  }
  if (!KNOWN.has(name)) {
    return undefined;
  }
  const fields = name === "heartbeat" ? {} : (JSON.parse(data) as object);
  return { ...fields, type: name, ...(id ? { id } : {}) } as FrameworkEvent;
}
