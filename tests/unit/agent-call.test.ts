// One agent attempt (callAgent) against fetch functions that answer in every way an agent can.
import { describe, expect, it } from "vitest";
import { callAgent, type CallOptions } from "../../worker/agents/call";

const call = (fetch: CallOptions["fetch"], opts: Partial<CallOptions> = {}) =>
  callAgent({ request: new Request("https://agent.example.com/", { method: "POST", body: "{}" }), fetch, timeoutMs: 200, signal: new AbortController().signal, ...opts });
const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  async () => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** A body that sends `parts` `gapMs` apart (and then never ends when `hang`). */
function slowBody(parts: string[], gapMs: number, hang = false) {
  const enc = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async start(c) {
      for (const p of parts) {
        await new Promise((r) => setTimeout(r, gapMs));
        c.enqueue(enc.encode(p));
      }
      if (!hang) c.close();
    },
  });
}

describe("callAgent", () => {
  it("reads a complete JSON reply with its fields", async () => {
    expect(await call(json({ output: "hi", intent: "greeting", confidence: 0.5 }))).toMatchObject({
      kind: "reply", text: "hi", fields: { intent: "greeting", confidence: 0.5 }, status: 200,
    });
  });

  it("classifies failures: 5xx, 408 and 429 are retried (with Retry-After), other 4xx and unreadable replies are not", async () => {
    expect(await call(json({}, 503))).toMatchObject({ kind: "retry", status: 503 });
    expect(await call(json({}, 408))).toMatchObject({ kind: "retry", status: 408 });
    expect(await call(json({}, 429, { "retry-after": "2" }))).toMatchObject({ kind: "retry", status: 429, retryAfterMs: 2000 });
    expect(await call(json({ error: "bad" }, 400))).toMatchObject({ kind: "fail", status: 400, error: expect.stringContaining("HTTP 400") });
    expect(await call(json({ nope: 1 }))).toMatchObject({ kind: "fail", error: expect.stringContaining("not in the agent format") });
    expect(await call(async () => new Response("<html>", { headers: { "content-type": "text/html" } }))).toMatchObject({ kind: "fail", error: "unsupported reply content type", detail: "text/html" });
    expect(await call(async () => Promise.reject(new TypeError("connection refused")))).toMatchObject({ kind: "retry", error: "network error", detail: "connection refused" });
    // What the agent said stays out of `error` (it may reach customers) and is made storable in `detail`.
    expect(await call(async () => new Response("trace at x\u0000\ud800", { status: 500 }))).toMatchObject({ kind: "retry", error: "HTTP 500", detail: "trace at x\uFFFD\uFFFD" });
    expect(await call(async () => new Response(null, { status: 202 }))).toMatchObject({ kind: "accepted", status: 202 });
  });

  it("times out waiting for the response, and between two chunks of a stream, but not over a slow stream that keeps coming", async () => {
    const never: CallOptions["fetch"] = (r) => new Promise((_, reject) => r.signal.addEventListener("abort", () => reject(r.signal.reason)));
    expect(await call(never, { timeoutMs: 50 })).toMatchObject({ kind: "retry", error: "no answer within 50 ms" });
    const stalls = async () => new Response(slowBody(["a", "b"], 10, true), { headers: { "content-type": "text/plain" } });
    expect(await call(stalls, { timeoutMs: 80 })).toMatchObject({ kind: "retry", error: "no answer within 80 ms" });
    const slow = async () => new Response(slowBody(["a", "b", "c", "d", "e", "f"], 40), { headers: { "content-type": "text/plain" } });
    const deltas: string[] = [];
    expect(await call(slow, { timeoutMs: 100, onDelta: (t) => deltas.push(t) })).toMatchObject({ kind: "reply", text: "abcdef" });
    expect(deltas).toEqual(["a", "b", "c", "d", "e", "f"]);
  });

  it("streams deltas and merges fields; an error in the stream is retried", async () => {
    const sse = (events: unknown[]) => async () =>
      new Response(events.map((e) => `data: ${typeof e === "string" ? e : JSON.stringify(e)}\n\n`).join(""), { headers: { "content-type": "text/event-stream" } });
    const seen: string[] = [];
    const ok = await call(
      sse([{ type: "text-delta", id: "t", delta: "Hel" }, { type: "text-delta", id: "t", delta: "lo" }, { type: "message-metadata", messageMetadata: { intent: "greeting" } }, "[DONE]"]),
      { onDelta: (t) => seen.push(t), onStream: () => seen.push("<stream>") },
    );
    expect(ok).toMatchObject({ kind: "reply", text: "Hello", fields: { intent: "greeting" } });
    expect(seen).toEqual(["<stream>", "Hel", "lo"]);
    expect(await call(sse([{ type: "text-delta", id: "t", delta: "x" }, { type: "error", errorText: "overloaded" }]))).toMatchObject({
      kind: "retry", error: "the agent reported an error mid-stream", detail: "overloaded",
    });
    // A stream that stops before it says it is complete was cut off: retried, never stored as the reply.
    expect(await call(sse([{ type: "text-delta", id: "t", delta: "half a repl" }]))).toMatchObject({
      kind: "retry", error: "the stream ended before it said it was complete",
    });
  });

  it("stops at once when cancelled", async () => {
    const controller = new AbortController();
    const never: CallOptions["fetch"] = (r) => new Promise((_, reject) => r.signal.addEventListener("abort", () => reject(r.signal.reason)));
    const pending = call(never, { signal: controller.signal, timeoutMs: 10_000 });
    controller.abort();
    expect(await pending).toEqual({ kind: "aborted" });
  });
});
