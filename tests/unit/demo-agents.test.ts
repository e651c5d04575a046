// demo-agents.ts: the built-in agents' intent rules, replies and HTTP behaviour (stream, JSON, signed callback, refusals).
import { describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { bankingReply, demoAgents, recognise, type DemoAgentOptions } from "../../worker/demo-agents";

const env = {} as Env;
const SECRET = "whsec_" + btoa("demo-agents-test-secret-0123456789");

function setup(secrets: Record<string, string> = {}) {
  const promises: Promise<unknown>[] = [];
  const callbacks: { url: string; init: RequestInit }[] = [];
  const opts: DemoAgentOptions = {
    secretFor: (name) => secrets[name],
    callbackFetch: () => async (url, init) => {
      callbacks.push({ url, init });
      return new Response(null, { status: 204 });
    },
    researchDelayMs: 5,
  };
  const app = demoAgents(opts);
  const ctx = { waitUntil: (p: Promise<unknown>) => void promises.push(p), passThroughOnException() {}, props: {} };
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request(
      path,
      { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) },
      env,
      ctx as unknown as ExecutionContext,
    );
  return { post, promises, callbacks };
}

const turn = (content: string, extra: Record<string, unknown> = {}) => ({
  turnId: "7f0c1a52-4a4e-4b8e-9a53-0d7c8b7c2a11",
  session: { id: "5b1e0f3c-2d6e-4f0a-8a1b-1c2d3e4f5a6b", agentType: "primary", context: {}, state: {}, metadata: {} },
  message: { id: "m3", seq: 3, content, createdAt: "2025-01-01T00:00:00Z" },
  history: [],
  ...extra,
});

function signed(secret: string, body: string): Record<string, string> {
  const id = crypto.randomUUID();
  const now = new Date();
  return { "webhook-id": id, "webhook-timestamp": String(Math.floor(now.getTime() / 1000)), "webhook-signature": new Webhook(secret).sign(id, now, body) };
}

/** The JSON payloads of an SSE body, in order ("[DONE]" kept as a string). */
async function sseData(res: Response): Promise<unknown[]> {
  const text = await res.text();
  expect(text.endsWith("\n\n")).toBe(true);
  return text
    .split("\n\n")
    .filter((frame) => frame !== "")
    .map((frame) => {
      expect(frame.startsWith("data: ")).toBe(true);
      const data = frame.slice("data: ".length);
      return data === "[DONE]" ? data : (JSON.parse(data) as unknown);
    });
}

describe("recognise", () => {
  it.each([
    ["what's my balance?", "balance"],
    ["How much money do I have", "balance"],
    ["I lost my card", "lost_card"],
    ["my card was stolen!", "lost_card"],
    ["please block my card", "lost_card"],
    ["transfer money to Anna", "transfer"],
    ["can I send money abroad", "transfer"],
    ["I want to talk to someone", "human"],
    ["can I speak to a person about my balance", "human"],
    ["hi there", "greeting"],
    ["Hello", "greeting"],
    ["this is about the weather", "unknown"],
  ])("%j → %s", (text, intent) => {
    expect(recognise(text).intent).toBe(intent);
  });

  it.each([
    ["transfer €50 to Bob", "€50"],
    ["send money: 50 EUR please", "50 EUR"],
    ["transfer $20", "$20"],
  ])("finds the amount in %j", (text, value) => {
    const result = recognise(text);
    expect(result.intent).toBe("transfer");
    expect(result.entities).toEqual([{ type: "amount", value }]);
    expect(result.confidence).toBeGreaterThan(recognise("transfer please").confidence);
  });

  it("takes no amount out of a card number", () => {
    expect(recognise("transfer from card 4111 1111 1111 1111 EUR").entities).toEqual([]);
  });
});

describe("bankingReply", () => {
  it("gives a plausible balance and a handoff only for a person", () => {
    expect(bankingReply("balance", [], "balance?").output).toContain("€1,234.56");
    expect(bankingReply("balance", [], "balance?").handoff).toBeUndefined();
    expect(bankingReply("human", [], "a person please")).toEqual({
      output: expect.stringMatching(/handing you over/),
      handoff: { to: "human", reason: "customer asked for a person" },
    });
  });

  it("uses the amount, and never repeats a card number", () => {
    expect(bankingReply("transfer", [{ type: "amount", value: "€50" }], "transfer €50").output).toContain("€50");
    const text = "I lost card 4111 1111 1111 1111";
    const reply = bankingReply(recognise(text).intent, recognise(text).entities, text);
    expect(reply.output).toMatch(/blocked/);
    expect(reply.output).not.toMatch(/4111/);
  });
});

describe("demo agent routes", () => {
  it("primary streams the reply word by word, then the metadata", async () => {
    const { post } = setup();
    const res = await post("/demo/agents/primary", turn("what's my balance?"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("x-vercel-ai-ui-message-stream")).toBe("v1");
    const events = await sseData(res);
    const types = events.map((e) => (typeof e === "string" ? e : (e as { type: string }).type));
    expect(types[0]).toBe("start");
    expect(types.slice(-3)).toEqual(["message-metadata", "finish", "[DONE]"]);
    const deltas = events.flatMap((e) => (typeof e === "object" && e !== null && "delta" in e ? [String(e.delta)] : []));
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join("")).toBe(bankingReply("balance", [], "").output);
    expect(events.at(-3)).toEqual({ type: "message-metadata", messageMetadata: { intent: "balance", confidence: 0.9, entities: [] } });
  });

  it("primary hands a request for a person to a human", async () => {
    const { post } = setup();
    const events = await sseData(await post("/demo/agents/primary", turn("I want to talk to someone")));
    expect(events.at(-3)).toMatchObject({ messageMetadata: { intent: "human", handoff: { to: "human", reason: "customer asked for a person" } } });
  });

  it("nlu answers the intent with an empty output", async () => {
    const { post } = setup();
    const res = await post("/demo/agents/nlu", turn("transfer €50 to Bob"));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ output: "", intent: "transfer", confidence: 0.95, entities: [{ type: "amount", value: "€50" }] });
  });

  it("banking answers the last previous intent, or recognises the message itself", async () => {
    const { post } = setup();
    const previous = [
      { agentType: "nlu", output: "", intent: "balance", entities: [] },
      { agentType: "nlu", output: "", intent: "transfer", entities: [{ type: "amount", value: "€75" }, "junk"], confidence: 0.9 },
      { agentType: "other", output: "no intent here" },
    ];
    const res = await post("/demo/agents/banking", turn("whatever the text says", { previous }));
    expect(await res.json()).toEqual({ output: bankingReply("transfer", [{ type: "amount", value: "€75" }], "").output });
    const own = await post("/demo/agents/banking", turn("a human, please", { previous: [] }));
    expect(await own.json()).toEqual(bankingReply("human", [], ""));
  });

  it("log_analysis counts lines and levels", async () => {
    const { post } = setup();
    const logs = "INFO start\nWARN slow disk\nERROR db connect timed out\nERROR retry failed\nINFO done";
    const body = (await (await post("/demo/agents/log_analysis", turn(logs))).json()) as { output: string; intent: string; entities: unknown[] };
    expect(body.intent).toBe("log_analysis");
    expect(body.output).toMatch(/5 lines/);
    expect(body.output).toMatch(/2 ERROR/);
    expect(body.output).toMatch(/timeout/);
    expect(body.output).toMatch(/line 3/);
    expect(body.entities).toContainEqual({ type: "level", value: "ERROR", count: 2 });
    expect(body.entities).toContainEqual({ type: "level", value: "WARN", count: 1 });
  });

  it("research accepts at once, then posts a signed callback", async () => {
    const { post, promises, callbacks } = setup({ research: SECRET });
    const body = JSON.stringify(turn("What are the fees for international transfers?", { callbackUrl: "https://host/api/webhooks/agents/research" }));
    const res = await post("/demo/agents/research", body, signed(SECRET, body));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: true });
    expect(callbacks).toHaveLength(0);
    await Promise.all(promises);
    expect(callbacks).toHaveLength(1);
    const { url, init } = callbacks[0]!;
    expect(url).toBe("https://host/api/webhooks/agents/research");
    const headers = init.headers as Record<string, string>;
    const raw = String(init.body);
    expect(() => new Webhook(SECRET).verify(raw, headers)).not.toThrow();
    expect(JSON.parse(raw)).toEqual({
      turnId: "7f0c1a52-4a4e-4b8e-9a53-0d7c8b7c2a11",
      sessionId: "5b1e0f3c-2d6e-4f0a-8a1b-1c2d3e4f5a6b",
      output: expect.stringContaining("What are the fees for international transfers?"),
      confidence: 0.6,
    });
  });

  it("verifies with a plain-string secret as its UTF-8 bytes", async () => {
    const { post } = setup({ nlu: "plain-secret" });
    const body = JSON.stringify(turn("hello"));
    const raw = new Webhook(new TextEncoder().encode("plain-secret"), { format: "raw" });
    const id = "msg_1";
    const now = new Date();
    const headers = { "webhook-id": id, "webhook-timestamp": String(Math.floor(now.getTime() / 1000)), "webhook-signature": raw.sign(id, now, body) };
    expect((await post("/demo/agents/nlu", body, headers)).status).toBe(200);
  });

  it("refuses a bad or missing signature with 401", async () => {
    const { post } = setup({ primary: SECRET });
    const body = JSON.stringify(turn("balance"));
    const wrong = signed("whsec_" + btoa("some-other-secret-0123456789abcdef"), body);
    for (const headers of [wrong, {}, { ...signed(SECRET, body + " ") }]) {
      const res = await post("/demo/agents/primary", body, headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: "UNAUTHORIZED" });
    }
  });

  it("refuses a body that is not an edge-chat turn with 400", async () => {
    const { post } = setup();
    for (const body of ["not json", { turnId: "t", session: { id: "s" }, message: {} }, { message: { content: "hi" } }]) {
      const res = await post("/demo/agents/nlu", body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: "BAD_REQUEST", message: expect.any(String) });
    }
    const noCallback = await post("/demo/agents/research", turn("fees?"));
    expect(noCallback.status).toBe(400);
    expect(await noCallback.json()).toMatchObject({ message: expect.stringContaining("callbackUrl") });
  });
});
