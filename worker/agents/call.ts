// One attempt at calling an agent over HTTP: send, read the reply in whatever form it comes, and say
// what happened as a union the turn's state machine acts on. Time limits: `timeoutMs` until the
// response headers, and again between two chunks of a streamed body.
import { isRetryableStatus, parseRetryAfter } from "./backoff";
import { decodeStream, parseReply, replyKind, type ReplyFields } from "./decode";

/** Agent text made storable in SQLite and Postgres: no NUL, well-formed Unicode. */
export const storable = (s: string) => s.replaceAll("\u0000", "\uFFFD").toWellFormed();

/** A reply longer than this (UTF-16 code units) is refused: the object holds it in memory while it streams. */
export const MAX_REPLY_CHARS = 131_072;

/**
 * `error` says what happened in our words (it may reach the customer: a turn frame, a system
 * message's errorInfo); `detail` is what the agent itself said (a body, a message), for the audit
 * trail and logs only.
 */
export type CallOutcome =
  | { kind: "reply"; text: string; fields: ReplyFields; status: number; ttfbMs: number; firstDeltaMs: number | null }
  | { kind: "accepted"; status: number; ttfbMs: number }
  /** Worth another attempt: a network error, a timeout, 408, 429, 5xx, an error reported mid-stream, a cut-off stream. */
  | { kind: "retry"; error: string; detail?: string; status: number | null; retryAfterMs: number | null; ttfbMs: number | null }
  /** Not worth another attempt: another 4xx, a reply we cannot read. */
  | { kind: "fail"; error: string; detail?: string; status: number | null; ttfbMs: number | null }
  /** Stopped by us (a cancel). */
  | { kind: "aborted" };

export interface CallOptions {
  request: Request;
  fetch: (request: Request) => Promise<Response>;
  timeoutMs: number;
  /** Aborted when the turn is cancelled. */
  signal: AbortSignal;
  /** Each piece of streamed text, as it arrives. */
  onDelta?: (text: string) => void;
  /** The response is a stream (called once, before the first delta). */
  onStream?: () => void;
}

class Timeout extends Error {
  override name = "Timeout";
}

export async function callAgent(opts: CallOptions): Promise<CallOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const controller = new AbortController();
  // The stream being read, errored on abort: a body does not always end when its fetch is aborted.
  let stream: TransformStreamDefaultController<Uint8Array> | undefined;
  const abort = (reason: unknown) => {
    controller.abort(reason);
    try {
      stream?.error(reason);
    } catch {}
  };
  const onCancel = () => abort(opts.signal.reason);
  if (opts.signal.aborted) return { kind: "aborted" };
  opts.signal.addEventListener("abort", onCancel, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => abort(new Timeout(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
  };
  let ttfbMs: number | null = null;
  try {
    arm();
    const response = await opts.fetch(new Request(opts.request, { signal: controller.signal }));
    ttfbMs = elapsed();
    const status = response.status;
    if (status < 200 || status > 299) {
      const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), Date.now());
      const detail = storable((await response.text().catch(() => "")).slice(0, 200));
      const error = `HTTP ${status}`;
      return isRetryableStatus(status)
        ? { kind: "retry", error, detail, status, retryAfterMs, ttfbMs }
        : { kind: "fail", error, detail, status, ttfbMs };
    }
    const kind = replyKind(status, response.headers.get("content-type"));
    if (kind === "accepted") {
      void response.body?.cancel();
      return { kind: "accepted", status, ttfbMs };
    }
    if (kind === null || (kind !== "json" && !response.body)) {
      void response.body?.cancel();
      return { kind: "fail", error: "unsupported reply content type", detail: storable((response.headers.get("content-type") ?? "none").slice(0, 100)), status, ttfbMs };
    }
    if (kind === "json") {
      const body = await response.text();
      if (body.length > MAX_REPLY_CHARS) return { kind: "fail", error: `the reply is longer than ${MAX_REPLY_CHARS} characters`, status, ttfbMs };
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        return { kind: "fail", error: "the reply is not valid JSON", status, ttfbMs };
      }
      const reply = parseReply(json);
      if (!reply.ok) return { kind: "fail", error: "the reply is not in the agent format", detail: storable(reply.error.slice(0, 500)), status, ttfbMs };
      return { kind: "reply", text: reply.text, fields: reply.fields, status, ttfbMs, firstDeltaMs: null };
    }
    // A stream: the time limit now runs between chunks.
    opts.onStream?.();
    const body = response.body!.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        start(c) {
          stream = c;
        },
        transform(chunk, c) {
          arm();
          c.enqueue(chunk);
        },
      }),
    );
    let text = "";
    let fields: ReplyFields = {};
    let firstDeltaMs: number | null = null;
    // SSE and ndjson say when they are complete; a body that just stops was cut off. Plain text cannot say.
    let complete = kind === "text";
    for await (const event of decodeStream(body, kind)) {
      if (event.type === "delta") {
        firstDeltaMs ??= elapsed();
        text += event.text;
        if (text.length > MAX_REPLY_CHARS) return { kind: "fail", error: `the reply is longer than ${MAX_REPLY_CHARS} characters`, status, ttfbMs };
        opts.onDelta?.(event.text);
      } else if (event.type === "fields") {
        fields = { ...fields, ...event.fields };
      } else if (event.type === "error") {
        return { kind: "retry", error: "the agent reported an error mid-stream", detail: storable(event.message.slice(0, 200)), status, retryAfterMs: null, ttfbMs };
      } else {
        complete = true;
        break;
      }
    }
    if (!complete) return { kind: "retry", error: "the stream ended before it said it was complete", status, retryAfterMs: null, ttfbMs };
    return { kind: "reply", text, fields, status, ttfbMs, firstDeltaMs };
  } catch (err) {
    if (opts.signal.aborted) return { kind: "aborted" };
    const reason = controller.signal.reason;
    if (reason instanceof Timeout) return { kind: "retry", error: reason.message, status: null, retryAfterMs: null, ttfbMs };
    return { kind: "retry", error: "network error", detail: storable((err instanceof Error ? err.message : String(err)).slice(0, 300)), status: null, retryAfterMs: null, ttfbMs };
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener("abort", onCancel);
  }
}
