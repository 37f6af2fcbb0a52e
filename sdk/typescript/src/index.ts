// Agora's TypeScript SDK. `Agora` and `Framework` are the framework helper; `paths` and
// `components` are every operation and schema of the API, generated from its OpenAPI document
// by openapi-typescript, for openapi-fetch.

export { Agora, Framework, parseBaseUrls } from "./agora.js";
export type {
  AgoraOptions,
  EventsOptions,
  Offer,
  OfferRef,
  Reconciled,
  RegisterFramework,
  Resources,
  TaskInfo,
  TaskInput,
  TaskStatus,
} from "./agora.js";
export { AgoraError, StreamEnded, Unreachable } from "./errors.js";
export { decodeEvent } from "./events.js";
export type { EventData, FrameworkEvent } from "./events.js";
export type { components, operations, paths } from "./schema.js";
