// A real local HTTP server (node:http) that plays the agent the backend calls, with canned behaviours and signed callbacks.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface AgentCall {
  /** Request path without the query string, e.g. "/banking". */
  path: string;
  /** Request headers with lower-case names; repeated headers are joined with ", ". */
  headers: Record<string, string>;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  raw: string;
  /** Date.now() when the body had been read. */
  receivedAt: number;
  /** Signature checked with the server's secret for that path (see `secrets`); null when no secret known. */
  verified: boolean | null;
  /** Set when the backend aborted the request (client disconnected before the response finished). */
  aborted: boolean;
}

export type Behaviour = (call: AgentCall, res: ServerResponse, signal: AbortSignal) => Promise<void> | void;

export interface AgentServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Every request, in arrival order. */
  calls: AgentCall[];
  callsTo(path: string): AgentCall[];
  /** Behaviour for a path; the default for unknown paths is reply({ output: "ok" }). A list is consumed one per call, the last one repeating. */
  on(path: string, behaviour: Behaviour | Behaviour[]): void;
  /** Secret per path used to compute `verified` (and by `callback`). "whsec_…" is base64, anything else is the string's UTF-8 bytes. */
  secrets: Record<string, string>;
  /** Resolves with the first `n` calls to `path` once that many have arrived; rejects with a clear message on timeout (default 5000 ms). */
  waitForCalls(path: string, n: number, timeoutMs?: number): Promise<AgentCall[]>;
  /** Errors thrown by behaviours (including `accepted`'s `then`), so a test can assert there were none. */
  errors: unknown[];
  /** Stops listening and destroys open connections (hanging responses); idempotent. */
  close(): Promise<void>;
}

/** A Webhook for a secret: "whsec_…" is base64 (the library's default format), anything else is the string's UTF-8 bytes. */
function webhookFor(secret: string, raw = !secret.startsWith("whsec_")): Webhook {
  return raw ? new Webhook(new TextEncoder().encode(secret), { format: "raw" }) : new Webhook(secret);
}

function verify(secret: string | undefined, raw: string, headers: Record<string, string>): boolean | null {
  if (secret === undefined) return null;
  try {
    webhookFor(secret).verify(raw, {
      "webhook-id": headers["webhook-id"] ?? "",
      "webhook-timestamp": headers["webhook-timestamp"] ?? "",
      "webhook-signature": headers["webhook-signature"] ?? "",
    });
    return true;
  } catch {
    return false;
  }
}

function lowerHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = () => resolve(Buffer.concat(chunks).toString("utf8"));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", done);
    // A request cut off mid-body is still recorded, with whatever arrived.
    req.on("error", done);
    req.on("close", done);
  });
}

/** Responses this server cut off itself (drop(), a failed behaviour, close()): not an abort by the backend. */
const selfClosed = new WeakSet<ServerResponse>();

/** Resolves after `ms`, or at once when `signal` aborts (callers check `signal.aborted`). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(finish, Math.max(0, ms));
    function finish() {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    }
    signal.addEventListener("abort", finish, { once: true });
  });
}

/** Resolves when `promise` settles or `signal` aborts, whichever is first. */
function untilOrAbort(promise: Promise<unknown> | undefined, signal: AbortSignal): Promise<void> {
  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
  return promise === undefined ? aborted : Promise.race([promise.then(() => undefined, () => undefined), aborted]);
}

export async function startAgentServer(opts: { secrets?: Record<string, string> } = {}): Promise<AgentServer> {
  const calls: AgentCall[] = [];
  const errors: unknown[] = [];
  const behaviours = new Map<string, { list: Behaviour[]; next: number }>();
  const waiters = new Set<() => void>();
  const fallback = reply({ output: "ok" });
  let closing: Promise<void> | undefined;

  const pick = (path: string): Behaviour => {
    const entry = behaviours.get(path);
    if (!entry || entry.list.length === 0) return fallback;
    const index = Math.min(entry.next, entry.list.length - 1);
    entry.next++;
    return entry.list[index] ?? fallback;
  };

  const server = createServer((req, res) => {
    const controller = new AbortController();
    let call: AgentCall | undefined;
    res.on("error", () => {
      /* the peer went away; `aborted` records it */
    });
    res.on("close", () => {
      if (res.writableEnded) return;
      if (call && !closing && !selfClosed.has(res)) call.aborted = true;
      controller.abort();
    });
    void (async () => {
      const raw = await readBody(req);
      const headers = lowerHeaders(req);
      const path = new URL(req.url ?? "/", "http://agent.local").pathname;
      let body: unknown = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        /* not JSON: keep the text */
      }
      call = {
        path,
        headers,
        body,
        raw,
        receivedAt: Date.now(),
        verified: verify(agent.secrets[path], raw, headers),
        aborted: controller.signal.aborted && !closing,
      };
      calls.push(call);
      for (const wake of [...waiters]) wake();
      if (controller.signal.aborted) return;
      try {
        await pick(path)(call, res, controller.signal);
      } catch (error) {
        errors.push(error);
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "text/plain" }).end(`agent-server behaviour failed: ${String(error)}`);
        } else {
          selfClosed.add(res);
          res.destroy();
        }
      }
    })();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  const agent: AgentServer = {
    url: `http://127.0.0.1:${port}`,
    calls,
    errors,
    secrets: { ...opts.secrets },
    callsTo: (path) => calls.filter((c) => c.path === path),
    on(path, behaviour) {
      behaviours.set(path, { list: Array.isArray(behaviour) ? [...behaviour] : [behaviour], next: 0 });
    },
    waitForCalls(path, n, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const matching = agent.callsTo(path);
          if (matching.length < n) return false;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(matching.slice(0, n));
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = calls.map((c) => c.path);
          reject(
            new Error(
              `agent-server: waited ${timeoutMs} ms for ${n} call(s) to ${path}, got ${agent.callsTo(path).length}` +
                ` (all calls so far: ${seen.length ? seen.join(", ") : "none"})`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
  return agent;
}

// ---------------------------------------------------------------------------------------------------------------------
// Behaviours

/** A complete JSON reply (status 200 unless given), optionally after `delayMs`. */
export function reply(body: unknown, opts: { status?: number; delayMs?: number; headers?: Record<string, string> } = {}): Behaviour {
  return async (_call, res, signal) => {
    if (opts.delayMs) await sleep(opts.delayMs, signal);
    if (signal.aborted) return;
    res.writeHead(opts.status ?? 200, { "content-type": "application/json", ...opts.headers }).end(JSON.stringify(body));
  };
}

/** A bare status with an optional text body and headers, optionally after `delayMs`. */
export function status(code: number, opts: { headers?: Record<string, string>; body?: string; delayMs?: number } = {}): Behaviour {
  return async (_call, res, signal) => {
    if (opts.delayMs) await sleep(opts.delayMs, signal);
    if (signal.aborted) return;
    res.writeHead(code, opts.headers).end(opts.body ?? "");
  };
}

/** 202 with an empty body; once the response has been sent, runs `then` (e.g. to POST a signed callback). */
export function accepted(then?: (call: AgentCall) => Promise<void> | void): Behaviour {
  return async (call, res) => {
    await new Promise<void>((resolve) => res.writeHead(202).end(() => resolve()));
    if (then) await then(call);
  };
}

/** Never answers, until the backend aborts or the server closes. */
export function hang(): Behaviour {
  return (_call, _res, signal) => untilOrAbort(undefined, signal);
}

/** Destroys the socket without a response (a network error for the caller). */
export function drop(): Behaviour {
  return (_call, res) => {
    selfClosed.add(res);
    res.socket?.destroy();
  };
}

function streamHead(res: ServerResponse, contentType: string, extra: Record<string, string> = {}): void {
  res.writeHead(200, { "content-type": contentType, "cache-control": "no-cache", ...extra });
  res.flushHeaders();
}

const sse = (data: unknown): string => `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;

/**
 * An AI SDK UI message stream: start, text-start, one text-delta per part (`gapMs` apart, default 5), text-end,
 * message-metadata (if given), finish, [DONE]. With `holdAfter` = k it waits, after k deltas, for `until` (or the abort).
 */
export function uiStream(
  parts: string[],
  opts: { gapMs?: number; metadata?: Record<string, unknown>; holdAfter?: number; until?: Promise<void> } = {},
): Behaviour {
  const gap = opts.gapMs ?? 5;
  return async (_call, res, signal) => {
    streamHead(res, "text/event-stream", { "x-vercel-ai-ui-message-stream": "v1" });
    res.write(sse({ type: "start" }));
    res.write(sse({ type: "text-start", id: "t" }));
    for (let i = 0; i <= parts.length; i++) {
      if (i === opts.holdAfter) await untilOrAbort(opts.until, signal);
      if (i === parts.length) break;
      await sleep(gap, signal);
      if (signal.aborted) return;
      res.write(sse({ type: "text-delta", id: "t", delta: parts[i] }));
    }
    if (signal.aborted) return;
    res.write(sse({ type: "text-end", id: "t" }));
    if (opts.metadata !== undefined) res.write(sse({ type: "message-metadata", messageMetadata: opts.metadata }));
    res.write(sse({ type: "finish" }));
    res.end(sse("[DONE]"));
  };
}

/** OpenAI chat.completion.chunk events, one per part (`gapMs` apart, default 5), a finish_reason "stop" chunk, then [DONE]. */
export function openaiStream(parts: string[], opts: { gapMs?: number; model?: string } = {}): Behaviour {
  const gap = opts.gapMs ?? 5;
  const model = opts.model ?? "m";
  const chunk = (delta: Record<string, string>, finishReason: string | null = null) => ({
    id: "c",
    object: "chat.completion.chunk",
    model,
    choices: [{ index: 0, delta, ...(finishReason ? { finish_reason: finishReason } : {}) }],
  });
  return async (_call, res, signal) => {
    streamHead(res, "text/event-stream");
    for (const part of parts) {
      await sleep(gap, signal);
      if (signal.aborted) return;
      res.write(sse(chunk({ content: part })));
    }
    res.write(sse(chunk({}, "stop")));
    res.end(sse("[DONE]"));
  };
}

/** n8n streaming: application/x-ndjson lines begin, one item per part (`gapMs` apart, default 5), end. */
export function ndjsonStream(parts: string[], opts: { gapMs?: number } = {}): Behaviour {
  const gap = opts.gapMs ?? 5;
  const line = (v: unknown) => `${JSON.stringify(v)}\n`;
  return async (_call, res, signal) => {
    const metadata = { nodeId: "agent", nodeName: "AI Agent", itemIndex: 0, runIndex: 0 };
    streamHead(res, "application/x-ndjson");
    res.write(line({ type: "begin", metadata: { ...metadata, timestamp: Date.now() } }));
    for (const part of parts) {
      await sleep(gap, signal);
      if (signal.aborted) return;
      res.write(line({ type: "item", content: part, metadata: { ...metadata, timestamp: Date.now() } }));
    }
    res.end(line({ type: "end", metadata: { ...metadata, timestamp: Date.now() } }));
  };
}

/** Streamed text/plain, one write per part (`gapMs` apart, default 5). */
export function textStream(parts: string[], opts: { gapMs?: number } = {}): Behaviour {
  const gap = opts.gapMs ?? 5;
  return async (_call, res, signal) => {
    streamHead(res, "text/plain; charset=utf-8");
    for (const part of parts) {
      await sleep(gap, signal);
      if (signal.aborted) return;
      res.write(part);
    }
    res.end();
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Callbacks and helpers

/**
 * POSTs a signed Standard Webhooks callback; returns status and parsed body (raw text when not JSON).
 * `raw` defaults to "the secret does not start with whsec_" (then it is the string's UTF-8 bytes), as for `secrets`.
 * `id`, `timestamp` and `signature` let a test reuse a delivery id or forge stale/bad signatures.
 */
export async function callback(
  url: string,
  secret: string,
  body: unknown,
  opts: { id?: string; timestamp?: Date; signature?: string; raw?: boolean } = {},
): Promise<{ status: number; body: any }> {
  const id = opts.id ?? randomUUID();
  const timestamp = opts.timestamp ?? new Date();
  const payload = JSON.stringify(body);
  const signature = opts.signature ?? webhookFor(secret, opts.raw ?? !secret.startsWith("whsec_")).sign(id, timestamp, payload);
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
      "webhook-signature": signature,
    },
    body: payload,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, body: parsed };
}

/** A Deferred helper for `uiStream`'s `until`. */
export function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
