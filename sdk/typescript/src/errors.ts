/** The server refused a request: `status` is the HTTP status, `code` the machine-readable code
 * of its `{"code", "message"}` body (`unknown_offer`, `invalid_id`, ...). */
export class AgoraError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = "AgoraError";
  }

  /** The error an answer carries; a body that is not Agora's JSON error becomes its text. */
  static fromBody(status: number, body: unknown): AgoraError {
    if (body && typeof body === "object" && "code" in body && "message" in body) {
      return new AgoraError(status, String(body.code), String(body.message));
    }
    return new AgoraError(status, "http_error", typeof body === "string" ? body.slice(0, 500) : "");
  }
}

/** The server ended an event stream for good with an `error` event: the framework was torn
 * down, or another connection took its stream over. */
export class StreamEnded extends AgoraError {
  constructor(code: string, message: string) {
    super(200, code, message);
    this.name = "StreamEnded";
  }
}

/** No replica answered; `cause` is the last connection error. */
export class Unreachable extends Error {
  constructor(
    readonly baseUrls: string[],
    cause: unknown,
  ) {
    super(`cannot reach the server at ${baseUrls.join(", ")}: ${String(cause)}`, { cause });
    this.name = "Unreachable";
  }
}
