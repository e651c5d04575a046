// What agents are sent (pure): the registry's checks, the request body per format, the signature.
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { agentOf, parseRegistry, type AgentConfig } from "../../worker/agents/registry";
import { requestBody, signatureHeaders, type CallInput } from "../../worker/agents/request";
import type { Message } from "../../worker/schemas";

const message = (seq: number, direction: Message["direction"], content: string): Message => ({
  id: `00000000-0000-4000-8000-00000000000${seq}`, sessionId: "5f0c8f0e-0000-4000-8000-000000000001", seq, clientId: null, userId: "alice",
  direction, content, messageType: "text", metadata: {}, intent: null, entities: null, sentiment: null, confidence: null, agentInfo: null,
  processingMs: null, errorInfo: null, parentId: null, createdAt: "2026-11-23T12:00:00.000Z",
});

const input: CallInput = {
  turnId: "7f5bde40-a9ee-456e-9f57-1ae41da2c821",
  callbackUrl: "https://chat.example.com/api/webhooks/agents/primary",
  session: { id: "5f0c8f0e-0000-4000-8000-000000000001", agentType: "primary", context: { tier: "gold" }, state: { step: 2 }, metadata: {} },
  history: [message(1, "incoming", "hi"), message(2, "outgoing", "hello, how can I help?"), message(3, "system", "notice")],
  messages: [message(4, "incoming", "my balance?"), message(5, "incoming", "and my card")],
  previous: [{ agentType: "nlu", output: "", intent: "balance" }],
};

const agent = (over: Record<string, unknown>): AgentConfig => {
  const parsed = parseRegistry(JSON.stringify({ a: { url: "https://agent.example.com", ...over } }));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.registry.a!;
};

describe("parseRegistry", () => {
  it("fills the defaults", () => {
    expect(agent({})).toEqual({
      url: "https://agent.example.com", format: "edge-chat", timeoutMs: 30_000, maxAttempts: 3, retryBaseMs: 1000, historyLimit: 20,
      callbackTimeoutMs: 300_000, concurrency: "queue",
    });
  });

  it("names the field that is wrong", () => {
    const bad = (v: unknown) => {
      const r = parseRegistry(JSON.stringify(v));
      return r.ok ? "ok" : r.error;
    };
    expect(bad({ primary: { url: "ftp://x" } })).toContain("AGENTS.primary.url: must be an http(s) URL");
    expect(bad({ primary: { url: "https://x", timeoutMs: -1 } })).toContain("AGENTS.primary.timeoutMs");
    expect(bad({ primary: { url: "https://x", colour: "red" } })).toContain("colour");
    expect(bad({ primary: {} })).toContain("AGENTS.primary: needs exactly one of url and pipeline");
    expect(bad({ router: { pipeline: ["nlu"] } })).toContain('AGENTS.router.pipeline.0: step "nlu" is not an agent type in AGENTS');
    expect(bad({ a: { url: "https://x", model: "m" } })).toContain("AGENTS.a.format: model and systemPrompt apply to the openai-chat format only");
    expect(bad({})).toContain("declares no agent");
    expect(parseRegistry("{nope")).toMatchObject({ ok: false, error: expect.stringContaining("AGENTS is not valid JSON") });
    expect(parseRegistry(undefined)).toMatchObject({ ok: false, error: expect.stringContaining("AGENTS is not set") });
  });
});

describe("requestBody", () => {
  it("edge-chat: the turn, the session with context and state, the messages, history and previous steps", () => {
    const body = requestBody(agent({}), input) as Record<string, any>;
    expect(body).toMatchObject({ turnId: input.turnId, session: input.session, previous: input.previous, callbackUrl: input.callbackUrl });
    expect(body.message).toMatchObject({ seq: 5, content: "my balance?\nand my card" });
    expect(body.messages.map((m: any) => m.content)).toEqual(["my balance?", "and my card"]);
    expect(body.history.map((m: any) => m.seq)).toEqual([1, 2, 3]);
    expect(body.history[0]).not.toHaveProperty("userId");
  });

  it("openai-chat: the system prompt, history as user/assistant (our notices left out), the turn's messages, stream", () => {
    expect(requestBody(agent({ format: "openai-chat", model: "gpt-x", systemPrompt: "Be brief." }), input)).toEqual({
      model: "gpt-x",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello, how can I help?" },
        { role: "user", content: "my balance?" },
        { role: "user", content: "and my card" },
      ],
      stream: true,
    });
  });

  it("n8n-chat: what a Chat Trigger reads", () => {
    expect(requestBody(agent({ format: "n8n-chat" }), input)).toMatchObject({
      action: "sendMessage", sessionId: input.session.id, chatInput: "my balance?\nand my card",
      metadata: { turnId: input.turnId, callbackUrl: input.callbackUrl },
    });
  });
});

describe("signatureHeaders", () => {
  it("signs per Standard Webhooks with a whsec_ secret and with a plain string's bytes", () => {
    const body = JSON.stringify({ hello: "world" });
    const whsec = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;
    const h1 = signatureHeaders(whsec, "job-1", body);
    expect(h1["webhook-id"]).toBe("job-1");
    expect(() => new Webhook(whsec).verify(body, h1)).not.toThrow();
    const h2 = signatureHeaders("plain secret é", "job-2", body);
    expect(() => new Webhook(new TextEncoder().encode("plain secret é") as unknown as string, { format: "raw" }).verify(body, h2)).not.toThrow();
    expect(() => new Webhook(whsec).verify(body, h2)).toThrow();
    expect(signatureHeaders(undefined, "job-3", body)).not.toHaveProperty("webhook-signature");
  });
});

describe("parseRegistry keeps secrets and prototypes out", () => {
  it("a JSON error names the place, not the text around it (which may be a secret)", () => {
    const r = parseRegistry('{"a":{"url":"https://x","secret":whsec_c2VjcmV0c2VjcmV0}}');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).not.toContain("whsec_c2Vj");
    expect(!r.ok && r.error).toMatch(/AGENTS is not valid JSON/);
  });

  it("a whsec_ secret that is not base64 is refused at parse time", () => {
    const r = parseRegistry(JSON.stringify({ a: { url: "https://x", secret: "whsec_not base64!!" } }));
    expect(r).toMatchObject({ ok: false, error: expect.stringContaining("AGENTS.a.secret") });
  });

  it("finds no agent type on Object.prototype", () => {
    const r = parseRegistry(JSON.stringify({ a: { url: "https://x" } }));
    if (!r.ok) throw new Error(r.error);
    expect(agentOf(r.registry, "constructor")).toBeUndefined();
    expect(agentOf(r.registry, "toString")).toBeUndefined();
    expect(agentOf(r.registry, "a")?.url).toBe("https://x");
  });
});
