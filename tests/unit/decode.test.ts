// decode.ts: reading what an HTTP agent sends back — reply kinds, JSON replies, callbacks and streams.
import { describe, expect, it } from "vitest";
import type { StreamEvent } from "../../worker/agents/decode";
import { callbackSchema, decodeStream, parseReply, replyFieldsSchema, replyKind } from "../../worker/agents/decode";

const encoder = new TextEncoder();

/** A body that delivers exactly these chunks. */
function bodyOf(...chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const queue = chunks.map((c) => (typeof c === "string" ? encoder.encode(c) : c));
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = queue.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
}

async function decode(body: ReadableStream<Uint8Array>, kind: "sse" | "ndjson" | "text"): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of decodeStream(body, kind)) events.push(event);
  return events;
}

/** Every way of cutting the sample into two chunks, and one byte per chunk. */
function splits(sample: string): Uint8Array[][] {
  const bytes = encoder.encode(sample);
  const ways: Uint8Array[][] = [];
  for (let i = 1; i < bytes.length; i++) ways.push([bytes.slice(0, i), bytes.slice(i)]);
  ways.push(Array.from(bytes, (b) => Uint8Array.of(b)));
  return ways;
}

const sse = (...data: string[]) => data.map((d) => `data: ${d}\n\n`).join("");
const json = (v: unknown) => JSON.stringify(v);
const TURN = "0b6f2a9e-3c1d-4e5f-8a7b-9c0d1e2f3a4b";
const SESSION = "6f9619ff-8b86-d011-b42d-00c04fc964ff"; // an imported id: a UUID but not RFC 9562

describe("replyKind", () => {
  it("reads 202 as accepted whatever the body says", () => {
    expect(replyKind(202, "application/json")).toBe("accepted");
    expect(replyKind(202, null)).toBe("accepted");
  });

  it("reads the media type, ignoring parameters and case", () => {
    expect(replyKind(200, "application/json; charset=utf-8")).toBe("json");
    expect(replyKind(200, "Application/JSON")).toBe("json");
    expect(replyKind(200, "text/event-stream;charset=UTF-8")).toBe("sse");
    expect(replyKind(200, "application/x-ndjson")).toBe("ndjson");
    expect(replyKind(200, "application/jsonl")).toBe("ndjson");
    expect(replyKind(201, " text/plain ; charset=utf-8")).toBe("text");
  });

  it("refuses what it cannot read", () => {
    expect(replyKind(200, "text/html")).toBeNull();
    expect(replyKind(200, "application/json-seq")).toBeNull();
    expect(replyKind(200, "application/problem+json")).toBeNull();
    expect(replyKind(200, "")).toBeNull();
    expect(replyKind(200, null)).toBeNull();
  });
});

describe("parseReply", () => {
  it("takes the text from output, text or message, the first that is a string", () => {
    expect(parseReply({ output: "a" })).toEqual({ ok: true, text: "a", fields: {} });
    expect(parseReply({ text: "b" })).toEqual({ ok: true, text: "b", fields: {} });
    expect(parseReply({ message: "c" })).toEqual({ ok: true, text: "c", fields: {} });
    expect(parseReply({ message: "c", text: "b", output: "a" })).toEqual({ ok: true, text: "a", fields: {} });
    expect(parseReply({ output: { parts: [] }, text: "b" })).toEqual({ ok: true, text: "b", fields: {} });
    expect(parseReply({ output: "" })).toEqual({ ok: true, text: "", fields: {} });
  });

  it("returns the reply fields and ignores unknown keys", () => {
    const reply = {
      output: "Let me get someone.",
      intent: "billing",
      entities: [{ type: "invoice", value: "INV-1" }],
      sentiment: -0.4,
      confidence: 0.9,
      context: { plan: "pro" },
      state: { step: 2 },
      handoff: { to: "human", reason: "asked for a person", extra: true },
      model: "gpt-4o-mini",
      tokens: 1234,
    };
    expect(parseReply(reply)).toEqual({
      ok: true,
      text: "Let me get someone.",
      fields: {
        intent: "billing",
        entities: [{ type: "invoice", value: "INV-1" }],
        sentiment: -0.4,
        confidence: 0.9,
        context: { plan: "pro" },
        state: { step: 2 },
        handoff: { to: "human", reason: "asked for a person" },
        model: "gpt-4o-mini",
      },
    });
    expect(parseReply({ text: "x", intent: null, entities: null, sentiment: null, confidence: null })).toEqual({
      ok: true,
      text: "x",
      fields: { intent: null, entities: null, sentiment: null, confidence: null },
    });
  });

  it("names each field that fails", () => {
    const result = parseReply({
      output: "x",
      intent: "i".repeat(129),
      entities: Array.from({ length: 101 }, () => 1),
      sentiment: 1.5,
      confidence: -0.1,
      context: [],
      handoff: { to: "", reason: "r".repeat(501) },
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    for (const path of ["intent", "entities", "sentiment", "confidence", "context", "handoff.to", "handoff.reason"]) {
      expect(result.error).toContain(`→ at ${path}`);
    }
  });

  it("refuses a reply without a string text, or that is not an object", () => {
    const none = parseReply({ output: 1, text: null, intent: "x" });
    expect(none).toEqual({ ok: false, error: expect.stringContaining("output, text, message") });
    expect(parseReply("hello")).toEqual({ ok: false, error: expect.stringContaining("expected object") });
    expect(parseReply(null).ok).toBe(false);
  });

  it("refuses field text that could not be stored", () => {
    const result = parseReply({ output: "x", intent: "a\u0000b" });
    expect(result).toEqual({ ok: false, error: expect.stringContaining("→ at intent") });
  });

  it("keeps a __proto__ key in context as an own key", () => {
    const result = parseReply(JSON.parse('{"output":"x","context":{"__proto__":{"a":1},"b":2}}'));
    expect(result.ok && Object.keys(result.fields.context ?? {})).toEqual(["__proto__", "b"]);
  });
});

describe("replyFieldsSchema", () => {
  it("makes every field optional", () => {
    expect(replyFieldsSchema.parse({})).toEqual({});
    expect(replyFieldsSchema.parse({ handoff: { to: "billing-agent" } })).toEqual({ handoff: { to: "billing-agent" } });
  });
});

describe("callbackSchema", () => {
  it("parses a reply callback into ids, text and fields", () => {
    const result = callbackSchema.safeParse({ turnId: TURN.toUpperCase(), sessionId: SESSION.toUpperCase(), text: "done", intent: "refund", extra: 1 });
    expect(result.data).toEqual({ turnId: TURN, sessionId: SESSION, text: "done", fields: { intent: "refund" } });
  });

  it("parses a failure callback, which wins over any text", () => {
    expect(callbackSchema.parse({ turnId: TURN, sessionId: SESSION, error: "timeout" })).toEqual({ turnId: TURN, sessionId: SESSION, error: "timeout" });
    expect(callbackSchema.parse({ turnId: TURN, sessionId: SESSION, error: "timeout", output: "hi" })).toEqual({ turnId: TURN, sessionId: SESSION, error: "timeout" });
  });

  it("refuses bad ids, and a callback that is neither a reply nor a failure", () => {
    expect(callbackSchema.safeParse({ turnId: "t1", sessionId: SESSION, output: "x" }).success).toBe(false);
    expect(callbackSchema.safeParse({ turnId: TURN, sessionId: "s1", error: "x" }).success).toBe(false);
    expect(callbackSchema.safeParse({ turnId: TURN, sessionId: SESSION }).success).toBe(false);
    expect(callbackSchema.safeParse({ turnId: TURN, sessionId: SESSION, output: "x", sentiment: 2 }).success).toBe(false);
  });
});

describe("decodeStream: AI SDK UI message stream", () => {
  const stream = sse(
    json({ type: "start", messageId: "m1", messageMetadata: { model: "claude-x" } }),
    json({ type: "start-step" }),
    json({ type: "text-start", id: "t1" }),
    json({ type: "reasoning-delta", id: "r1", delta: "thinking" }),
    json({ type: "text-delta", id: "t1", delta: "Héllo " }),
    json({ type: "text-delta", id: "t1", delta: "" }),
    json({ type: "tool-input-available", toolCallId: "c1", toolName: "x", input: {} }),
    json({ type: "text-delta", id: "t1", delta: "wörld 👋" }),
    json({ type: "text-end", id: "t1" }),
    json({ type: "finish-step" }),
    json({ type: "message-metadata", messageMetadata: { intent: "support", confidence: 0.8, handoff: { to: "human", reason: "angry" } } }),
    json({ type: "finish", messageMetadata: { sentiment: -0.7, unknown: 1 } }),
    "[DONE]",
  );
  const expected: StreamEvent[] = [
    { type: "fields", fields: { model: "claude-x" } },
    { type: "delta", text: "Héllo " },
    { type: "delta", text: "wörld 👋" },
    { type: "fields", fields: { intent: "support", confidence: 0.8, handoff: { to: "human", reason: "angry" } } },
    { type: "fields", fields: { sentiment: -0.7 } },
    { type: "end" },
  ];

  it("emits deltas, metadata as fields and one end for finish plus [DONE]", async () => {
    expect(await decode(bodyOf(stream), "sse")).toEqual(expected);
  });

  it("gives the same events however the bytes are cut", async () => {
    for (const chunks of splits(stream)) expect(await decode(bodyOf(...chunks), "sse")).toEqual(expected);
  });

  it("keeps the metadata fields that validate and drops the rest", async () => {
    const body = sse(
      json({ type: "message-metadata", messageMetadata: { intent: 5, confidence: 2, sentiment: 0.1, handoff: { to: "" }, state: { a: 1 } } }),
      json({ type: "message-metadata", messageMetadata: { intent: 5 } }),
      json({ type: "message-metadata", messageMetadata: "nope" }),
      json({ type: "start" }),
    );
    expect(await decode(bodyOf(body), "sse")).toEqual([{ type: "fields", fields: { sentiment: 0.1, state: { a: 1 } } }]);
  });

  it("reports an in-stream error and does not end without finish or [DONE]", async () => {
    const body = sse(json({ type: "text-delta", id: "t", delta: "Hi" }), json({ type: "error", errorText: "rate limited" }), json({ type: "error" }));
    expect(await decode(bodyOf(body), "sse")).toEqual([
      { type: "delta", text: "Hi" },
      { type: "error", message: "rate limited" },
      { type: "error", message: "the agent reported an error" },
    ]);
  });

  it("ignores comments, non-JSON data and unknown shapes", async () => {
    const body = `: keep-alive\n\nevent: ping\ndata: hello\n\ndata: [1,2]\n\ndata: {"foo":1}\n\r\n${sse(json({ type: "data-weather", data: {} }), json({ type: "finish" }))}`;
    expect(await decode(bodyOf(body), "sse")).toEqual([{ type: "end" }]);
  });
});

describe("decodeStream: OpenAI chat.completion.chunk", () => {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    json({ id: "c1", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini", choices: [{ index: 0, delta, finish_reason: finish }] });
  const stream = sse(
    chunk({ role: "assistant", content: "" }),
    chunk({ content: "Bonjour, " }),
    chunk({ content: "ça va ?" }),
    chunk({}, "stop"),
    json({ id: "c1", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini", choices: [], usage: { total_tokens: 9 } }),
    "[DONE]",
  );
  const expected: StreamEvent[] = [
    { type: "fields", fields: { model: "gpt-4o-mini" } },
    { type: "delta", text: "Bonjour, " },
    { type: "delta", text: "ça va ?" },
    { type: "end" },
  ];

  it("emits the model once, the non-empty deltas, then end at [DONE]", async () => {
    expect(await decode(bodyOf(stream), "sse")).toEqual(expected);
  });

  it("gives the same events however the bytes are cut", async () => {
    for (const chunks of splits(stream)) expect(await decode(bodyOf(...chunks), "sse")).toEqual(expected);
  });

  it("reports an error object", async () => {
    const body = sse(chunk({ content: "Hi" }), json({ error: { message: "overloaded", type: "server_error" } }), json({ error: {} }));
    expect(await decode(bodyOf(body), "sse")).toEqual([
      { type: "fields", fields: { model: "gpt-4o-mini" } },
      { type: "delta", text: "Hi" },
      { type: "error", message: "overloaded" },
      { type: "error", message: "the agent reported an error" },
    ]);
  });

  it("drops an event the body cut off before its blank line", async () => {
    expect(await decode(bodyOf(`${sse(chunk({ content: "a" }))}data: [DONE]\n`), "sse")).toEqual([
      { type: "fields", fields: { model: "gpt-4o-mini" } },
      { type: "delta", text: "a" },
    ]);
  });
});

describe("decodeStream: ndjson (n8n)", () => {
  const meta = { nodeId: "n1", nodeName: "AI Agent", itemIndex: 0, runIndex: 0, timestamp: 1 };
  const stream = [
    json({ type: "begin", metadata: meta }),
    json({ type: "item", content: "Grüße ", metadata: meta }),
    "",
    "not json",
    json({ type: "item", content: "", metadata: meta }),
    json({ type: "item", content: "aus 🇩🇪", metadata: meta }),
    json({ type: "progress" }),
    json({ type: "end", metadata: meta }),
  ].join("\n");
  const expected: StreamEvent[] = [
    { type: "delta", text: "Grüße " },
    { type: "delta", text: "aus 🇩🇪" },
    { type: "end" },
  ];

  it("emits items as deltas and end, counting a last line without a newline", async () => {
    expect(await decode(bodyOf(stream), "ndjson")).toEqual(expected);
    expect(await decode(bodyOf(`${stream}\n`), "ndjson")).toEqual(expected);
    expect(await decode(bodyOf(stream.replaceAll("\n", "\r\n")), "ndjson")).toEqual(expected);
  });

  it("gives the same events however the bytes are cut", async () => {
    for (const chunks of splits(stream)) expect(await decode(bodyOf(...chunks), "ndjson")).toEqual(expected);
  });

  it("reports errors, with the content as message when there is one", async () => {
    const body = [json({ type: "item", content: "Hi" }), json({ type: "error", content: "Workflow failed" }), json({ type: "error" })].join("\n");
    expect(await decode(bodyOf(body), "ndjson")).toEqual([
      { type: "delta", text: "Hi" },
      { type: "error", message: "Workflow failed" },
      { type: "error", message: "the agent reported an error" },
    ]);
  });

  it("does not end when the stream never said end", async () => {
    expect(await decode(bodyOf(json({ type: "item", content: "Hi" })), "ndjson")).toEqual([{ type: "delta", text: "Hi" }]);
  });
});

describe("decodeStream: text", () => {
  const sample = "héllo 👋 wörld";

  it("emits each chunk as a delta and never an end", async () => {
    expect(await decode(bodyOf("Hello, ", "world"), "text")).toEqual([
      { type: "delta", text: "Hello, " },
      { type: "delta", text: "world" },
    ]);
    expect(await decode(bodyOf(), "text")).toEqual([]);
  });

  it("decodes characters split across chunks, without empty deltas", async () => {
    for (const chunks of splits(sample)) {
      const events = await decode(bodyOf(...chunks), "text");
      expect(events.map((e) => (e.type === "delta" ? e.text : "?")).join("")).toBe(sample);
      expect(events.every((e) => e.type === "delta" && e.text !== "")).toBe(true);
    }
  });

  it("ends a body cut mid-character with U+FFFD rather than dropping it", async () => {
    const bytes = encoder.encode("ok 👋");
    expect(await decode(bodyOf(bytes.slice(0, -1)), "text")).toEqual([{ type: "delta", text: "ok " }, { type: "delta", text: "\uFFFD" }]);
  });
});

describe("decodeStream: stopping early", () => {
  it("cancels the body when the caller breaks out", async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(encoder.encode(sse(json({ type: "text-delta", id: "t", delta: "x" }))));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const event of decodeStream(body, "sse")) {
      expect(event).toEqual({ type: "delta", text: "x" });
      break;
    }
    expect(cancelled).toBe(true);
  });

  it("passes on a body that fails", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('{"type":"item","content":"a"}\n'));
        controller.error(new Error("connection reset"));
      },
    });
    await expect(decode(body, "ndjson")).rejects.toThrow("connection reset");
  });
});
