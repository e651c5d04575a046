// The AI SDK's chat client against our /api/chat: the real `ai` package's Chat (the logic `useChat`
// runs) and DefaultChatTransport, a Worker of its own and a real agent server streaming replies.
import { AbstractChat, DefaultChatTransport, type ChatState, type ChatStatus, type UIMessage } from "ai";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deferred, hang, status, uiStream } from "../agents/agent-server";
import { agentStack, type AgentStack } from "../agents/harness";
import { dedicatedWorker, newUserId, sql, token } from "../helpers";

/** The state `useChat` keeps in React, kept in memory; `texts` records every version of the last message's text. */
class MemoryState implements ChatState<UIMessage> {
  status: ChatStatus = "ready";
  error: Error | undefined = undefined;
  messages: UIMessage[] = [];
  texts: string[] = [];
  pushMessage = (m: UIMessage) => {
    this.messages = [...this.messages, m];
    this.texts.push(textOf(m));
  };
  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
  };
  replaceMessage = (i: number, m: UIMessage) => {
    this.messages = this.messages.map((x, j) => (j === i ? m : x));
    this.texts.push(textOf(m));
  };
  snapshot = <T,>(thing: T): T => structuredClone(thing);
}

class Chat extends AbstractChat<UIMessage> {
  readonly memory: MemoryState;
  constructor(opts: Omit<ConstructorParameters<typeof AbstractChat<UIMessage>>[0], "state"> & { memory: MemoryState }) {
    super({ ...opts, state: opts.memory });
    this.memory = opts.memory;
  }
}

const textOf = (m: UIMessage | undefined) => (m?.parts ?? []).flatMap((p) => (p.type === "text" ? [p.text] : [])).join("");

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let stack: AgentStack;
beforeAll(async () => {
  stack = await agentStack((url) => ({
    ui: { url: `${url}/ui` },
    broken: { url: `${url}/broken`, maxAttempts: 1 },
  }));
});
afterAll(() => stack?.stop());

async function customer(agentType = "ui") {
  const userId = newUserId();
  const t = await token(userId);
  const created = await stack.call("POST", "/sessions", t, { agentType });
  expect(created.status).toBe(200);
  return { id: created.body.id as string, userId, token: t };
}

function chatFor(s: { id: string; token: string }, fetchImpl: typeof fetch = fetch) {
  const memory = new MemoryState();
  const transport = new DefaultChatTransport<UIMessage>({
    api: `${stack.worker.url}/api/chat`,
    headers: { authorization: `Bearer ${s.token}` },
    // Only the new message: the session already holds the history.
    prepareSendMessagesRequest: ({ id, messages }) => ({ body: { id, message: messages.at(-1) } }),
    fetch: fetchImpl,
  });
  return new Chat({ id: s.id, transport, memory });
}

async function history(s: { id: string; token: string }) {
  const res = await stack.call("GET", `/sessions/${s.id}/history`, s.token);
  expect(res.status).toBe(200);
  return res.body.messages as { id: string; seq: number; direction: string; content: string; clientId: string | null }[];
}

describe("useChat over /api/chat", () => {
  it("streams the agent's reply as UI message parts, and the assistant message is the stored reply", async () => {
    const s = await customer();
    stack.agents.on("/ui", uiStream(["Your card ", "ships ", "tomorrow."], { gapMs: 30 }));
    const chat = chatFor(s);
    await chat.sendMessage({ text: "Where is my card?" });
    expect(chat.memory.status).toBe("ready");
    expect(chat.memory.error).toBeUndefined();
    const [asked, answer] = chat.memory.messages;
    expect(asked).toMatchObject({ role: "user" });
    expect(answer).toMatchObject({ role: "assistant" });
    expect(textOf(answer)).toBe("Your card ships tomorrow.");
    // It arrived piece by piece, not at the end.
    expect(chat.memory.texts).toEqual(expect.arrayContaining(["Your card ", "Your card ships "]));

    // Stored once each: the customer's message under the UI message's id, the reply under the assistant message's id.
    const stored = await history(s);
    expect(stored.map((m) => [m.direction, m.content])).toEqual([
      ["incoming", "Where is my card?"],
      ["outgoing", "Your card ships tomorrow."],
    ]);
    expect(stored[0]!.clientId).toBe(asked!.id);
    expect(answer!.id).toBe(stored[1]!.id);
    expect(answer!.metadata).toMatchObject({ sessionId: s.id, turnId: stored[1]!.id, seq: stored[1]!.seq });

    // The same request again (a client retrying) stores nothing new and streams the same reply.
    const again = await fetch(`${stack.worker.url}/api/chat`, {
      method: "POST",
      headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json" },
      body: JSON.stringify({ id: s.id, messages: [asked] }),
    });
    expect(again.status).toBe(200);
    expect(again.headers.get("x-vercel-ai-ui-message-stream")).toBe("v1");
    const body = await again.text();
    expect(body).toContain('"delta":"Your card ships tomorrow."');
    expect(body.trim().endsWith("data: [DONE]")).toBe(true);
    expect((await history(s)).length).toBe(2);
    // Nothing is running now.
    const idle = await fetch(`${stack.worker.url}/api/chat/${s.id}/stream`, { headers: { authorization: `Bearer ${s.token}` } });
    expect(idle.status).toBe(204);
  });

  it("resumes after a dropped connection: the turn from its start, then live, with nothing doubled", async () => {
    const s = await customer();
    const gate = deferred();
    stack.agents.on("/ui", uiStream(["One, ", "two, ", "three."], { gapMs: 10, holdAfter: 2, until: gate.promise }));
    // The first response is cut once the first piece of the reply has come through.
    let cut = false;
    const cutting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (cut || init?.method !== "POST" || !res.body) return res;
      cut = true;
      const reader = res.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { value, done } = await reader.read();
          if (done) return controller.close();
          controller.enqueue(value);
          if (new TextDecoder().decode(value).includes("text-delta")) {
            await reader.cancel();
            controller.error(new TypeError("network connection lost"));
          }
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const chat = chatFor(s, cutting);
    await chat.sendMessage({ text: "Count to three" }).catch(() => {});
    expect(cut).toBe(true);
    // The agent is still answering on the server; the client reconnects.
    const resumed = chat.resumeStream();
    await until("the replayed start of the reply", () => textOf(chat.memory.messages.at(-1)).startsWith("One, two, "));
    gate.resolve();
    await resumed;
    expect(chat.memory.error).toBeUndefined();
    expect(chat.memory.messages.map((m) => [m.role, textOf(m)])).toEqual([
      ["user", "Count to three"],
      ["assistant", "One, two, three."],
    ]);
    expect((await history(s)).map((m) => m.content)).toEqual(["Count to three", "One, two, three."]);
  });

  it("stops a running turn: the agent call is aborted and the stream ends", async () => {
    const s = await customer();
    stack.agents.on("/ui", uiStream(["Thinking", " hard"], { gapMs: 10, holdAfter: 1, until: new Promise(() => {}) }));
    const chat = chatFor(s);
    const sending = chat.sendMessage({ text: "Take your time" });
    await until("the first piece", () => textOf(chat.memory.messages.at(-1)) === "Thinking");
    const stop = await fetch(`${stack.worker.url}/api/chat/${s.id}/stop`, { method: "POST", headers: { authorization: `Bearer ${s.token}` } });
    expect(stop.status).toBe(200);
    expect(await stop.json()).toMatchObject({ stopped: true, state: "cancelled" });
    await sending;
    expect(chat.memory.status).toBe("ready");
    // The partial reply stays on screen; nothing was stored for it.
    expect(textOf(chat.memory.messages.at(-1))).toBe("Thinking");
    expect((await history(s)).map((m) => m.direction)).toEqual(["incoming"]);
    const again = await fetch(`${stack.worker.url}/api/chat/${s.id}/stop`, { method: "POST", headers: { authorization: `Bearer ${s.token}` } });
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ code: "NOT_FOUND", message: "no turn is running" });
  });

  it("ends the stream with an error when the agent fails for good, saying what the customer is told", async () => {
    const s = await customer("broken");
    stack.agents.on("/broken", status(400, { body: "bad request" }));
    const chat = chatFor(s);
    await chat.sendMessage({ text: "Hello?" });
    expect(chat.memory.status).toBe("error");
    expect(chat.memory.error?.message).toMatch(/unavailable/);
    const stored = await history(s);
    expect(stored.map((m) => m.direction)).toEqual(["incoming", "system"]);
    // The session is now with a human: a new message is stored and its stream ends at once, with no
    // (empty) assistant message; the staff's reply comes on the socket and in history.
    const before = chat.memory.messages.length;
    await chat.sendMessage({ text: "Anyone there?" });
    expect(chat.memory.status).toBe("ready");
    expect(chat.memory.messages.length).toBe(before + 1);
    expect(chat.memory.messages.at(-1)).toMatchObject({ role: "user" });
    expect((await history(s)).map((m) => m.content).at(-1)).toBe("Anyone there?");
  });

  it("refuses bad requests with a status and a message, storing nothing", async () => {
    const s = await customer();
    const other = await customer();
    stack.agents.on("/ui", hang());
    const post = (body: unknown, t: string | null = s.token, type = "application/json") =>
      fetch(`${stack.worker.url}/api/chat`, {
        method: "POST",
        headers: { ...(t ? { authorization: `Bearer ${t}` } : {}), "content-type": type },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const user = (text: string, id = crypto.randomUUID()) => ({ id, role: "user", parts: [{ type: "text", text }] });

    expect(await post({ id: s.id, message: user("hi") }, null)).toMatchObject({ status: 401, body: { code: "UNAUTHORIZED" } });
    expect(await post("{not json")).toMatchObject({ status: 400, body: { message: /JSON/ } });
    expect(await post({ id: "nope", message: user("hi") })).toMatchObject({ status: 400, body: { code: "BAD_REQUEST", message: /id/ } });
    expect(await post({ id: s.id })).toMatchObject({ status: 400, body: { message: /needs `message`/ } });
    expect(await post({ id: s.id, messages: [{ id: "a1", role: "assistant", parts: [{ type: "text", text: "x" }] }] })).toMatchObject({ status: 400, body: { message: /role "user"/ } });
    expect(await post({ id: s.id, message: { id: "f1", role: "user", parts: [{ type: "file", url: "data:," }] } })).toMatchObject({ status: 400, body: { message: /no text part/ } });
    expect(await post({ id: s.id, messages: [user("again")], trigger: "regenerate-message" })).toMatchObject({ status: 400, body: { message: /regenerate-message is not supported/ } });
    expect(await post({ id: other.id, message: user("not yours") })).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
    expect(await post({ id: s.id, message: user("x".repeat(9000)) })).toMatchObject({ status: 413 });
    const foreign = await fetch(`${stack.worker.url}/api/chat/${other.id}/stream`, { headers: { authorization: `Bearer ${s.token}` } });
    expect(foreign.status).toBe(404);
    const badId = await fetch(`${stack.worker.url}/api/chat/not-a-session/stop`, { method: "POST", headers: { authorization: `Bearer ${s.token}` } });
    expect(badId.status).toBe(400);
    expect(await history(s)).toEqual([]);
    expect(await history(other)).toEqual([]);
  });

  it("answers 503 (retry) when the session's state cannot be read for want of Postgres, not 500", async () => {
    const worker = await dedicatedWorker();
    try {
      // A session imported into Postgres (an id this deployment did not issue): reaching it needs the database.
      const userId = newUserId();
      const t = await token(userId);
      const id = randomUUID();
      await sql().query(`insert into chat_sessions (id, user_id, agent_type, expires_at) values ($1, $2, 'primary', now() + interval '1 day')`, [id, userId]);
      worker.proxy.setBlocked(true);
      const auth = { authorization: `Bearer ${t}` };
      const resume = await fetch(`${worker.url}/api/chat/${id}/stream`, { headers: auth });
      expect(resume.status).toBe(503);
      expect(await resume.json()).toMatchObject({ code: "SERVICE_UNAVAILABLE", message: /unavailable/ });
      const post = await fetch(`${worker.url}/api/chat`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ id, message: { id: "m1", role: "user", parts: [{ type: "text", text: "hello?" }] } }),
      });
      expect(post.status).toBe(503);
    } finally {
      worker.proxy.setBlocked(false);
      await worker.stop();
    }
  });
});
