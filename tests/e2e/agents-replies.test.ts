// Agent replies end to end: a Worker of its own whose AGENTS point at a local agent server, a real
// session socket, and Postgres. Each customer message starts a turn that calls the agent; what the
// customer sees (deltas, the stored reply) and what the agent received (body, signature) are checked.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accepted, callback, ndjsonStream, openaiStream, reply, textStream, uiStream, type AgentCall } from "../agents/agent-server";
import { agentStack, deltaText, type AgentStack } from "../agents/harness";
import { TestSocket, newUserId, reachedPostgres, sql, token, type Frame } from "../helpers";

const WHSEC = "whsec_" + Buffer.from("0123456789abcdef0123456789abcdef").toString("base64");
const PLAIN_SECRET = "a plain string secret";
const HOOK_SECRET = "whsec_" + Buffer.from("hook-secret-hook-secret-hook-sec").toString("base64");

type Session = Awaited<ReturnType<AgentStack["session"]>>;

let sent = 0;
/** Sends a customer message over the socket; resolves with its ack once the reply to it (an outgoing message) has arrived. */
async function ask(s: { socket: TestSocket }, content: string, opts: { metadata?: Record<string, unknown> } = {}) {
  const clientId = `c${++sent}`;
  s.socket.send({ type: "send", clientId, content, ...(opts.metadata ? { metadata: opts.metadata } : {}) });
  const ack = await s.socket.next("ack", (f) => f.clientId === clientId);
  const replyFrame = await s.socket.next("message", (f) => f.message.direction === "outgoing" && f.message.parentId === ack.id, 15_000);
  const turnId = replyFrame.message.agentInfo.turnId as string;
  return { ack, reply: replyFrame.message, replyFrame, turnId };
}

/** The turn started for the customer's message `messageId` (its first turn frame). */
function turnFor(socket: TestSocket, messageId: string) {
  return socket.next("turn", (f) => f.turn.parentId === messageId).then((f) => f.turn as Frame);
}

async function turnRow(turnId: string) {
  const { rows } = await sql().query(`select state, attempts, reply_seq, agent_type, session_id from chat_turns where id = $1`, [turnId]);
  return rows[0] as { state: string; attempts: number; reply_seq: number | null; agent_type: string; session_id: string } | undefined;
}

async function messageRows(sessionId: string) {
  const { rows } = await sql().query(
    `select seq, direction, user_id, content, metadata, intent, entities, confidence, agent_info, parent_id from chat_messages where session_id = $1 order by seq`,
    [sessionId],
  );
  return rows as any[];
}

const outgoing = (socket: TestSocket) => socket.of("message").filter((f) => f.message.direction === "outgoing");

/** The streamed reply's deltas for `turnId` arrived before its message frame, indexes 0..n-1, and add up to the stored content. */
function expectStreamed(socket: TestSocket, turnId: string, replyFrame: Frame, content: string, parts?: number) {
  const deltas = socket.of("delta").filter((f) => f.turnId === turnId);
  expect(deltas.length).toBeGreaterThan(0);
  // Redaction may hold the end of a piece back until the next one (a number could be forming there).
  if (parts !== undefined) expect(deltas.length).toBeLessThanOrEqual(parts);
  expect(deltas.map((d) => d.index)).toEqual(deltas.map((_, i) => i));
  expect(new Set(deltas.map((d) => d.attempt))).toEqual(new Set([1]));
  const lastDelta = Math.max(...deltas.map((d) => socket.frames.indexOf(d)));
  expect(lastDelta).toBeLessThan(socket.frames.indexOf(replyFrame));
  expect(deltaText(socket, turnId)).toBe(content);
}

describe("agents that answer in the response", () => {
  let stack: AgentStack;
  beforeAll(async () => {
    stack = await agentStack((url) => ({
      sync: { url: `${url}/sync`, secret: WHSEC, historyLimit: 2 },
      plain: { url: `${url}/plain`, secret: PLAIN_SECRET },
      ui: { url: `${url}/ui` },
      oai: { url: `${url}/oai`, format: "openai-chat", model: "gpt-test", systemPrompt: "You are a bank assistant." },
      n8n: { url: `${url}/n8n`, format: "n8n-chat", secret: PLAIN_SECRET },
      text: { url: `${url}/text` },
      router: { pipeline: ["nlu", "banking"] },
      nlu: { url: `${url}/nlu` },
      banking: { url: `${url}/banking` },
      redacting: { url: `${url}/redacting` },
      stateful: { url: `${url}/stateful` },
    }));
  });
  afterAll(() => stack?.stop());

  it("stores a JSON reply as the outgoing message answering the customer, and sends the agent a signed edge-chat request", async () => {
    const { agents, worker } = stack;
    const userId = newUserId();
    const t = await token(userId);
    const created = await stack.call("POST", "/sessions", t, { agentType: "sync", metadata: { plan: "pro" } });
    expect(created.status).toBe(200);
    const id = created.body.id as string;
    const socket = await TestSocket.open(id, { token: t }, { base: worker.url });
    await socket.next("ready");
    const s = { socket };

    agents.on("/sync", [
      reply({ output: "Hello! How can I help?", intent: "greeting", confidence: 0.8 }),
      reply({ output: "Your balance is 10 EUR.", intent: "balance", entities: [{ type: "account", value: "main" }], confidence: 0.95, sentiment: 0.2 }),
      reply({ output: "Anything else?" }),
    ]);
    const first = await ask(s, "hi");
    expect(first.reply.content).toBe("Hello! How can I help?");
    const second = await ask(s, "what is my balance?");
    const third = await ask(s, "thanks");

    // What the customer sees.
    expect(second.reply).toMatchObject({
      sessionId: id,
      seq: 4,
      clientId: null,
      userId: "agent:sync",
      direction: "outgoing",
      content: "Your balance is 10 EUR.",
      intent: "balance",
      entities: [{ type: "account", value: "main" }],
      confidence: 0.95,
      sentiment: 0.2,
      parentId: second.ack.id,
      agentInfo: { kind: "agent", agentType: "sync", attempt: 1, turnId: second.turnId },
    });
    expect(second.reply.agentInfo).not.toHaveProperty("steps");
    expect(second.reply.processingMs).toBeGreaterThanOrEqual(0);
    expect(third.reply).toMatchObject({ seq: 6, intent: null, entities: null, confidence: null, parentId: third.ack.id });
    expect(socket.seqs()).toEqual([1, 2, 3, 4, 5, 6]);
    // The turn went queued → calling → done and says which message is its reply.
    await socket.next("turn", (f) => f.turn.turnId === third.turnId && f.turn.state === "done");
    const frames = socket.of("turn").filter((f) => f.turn.turnId === second.turnId).map((f) => f.turn);
    expect(frames.map((f) => f.state)).toEqual(["queued", "calling", "done"]);
    expect(frames[1]).toEqual({ turnId: second.turnId, state: "calling", agentType: "sync", attempt: 1, parentId: second.ack.id });
    expect(frames[2]).toEqual({ turnId: second.turnId, state: "done", agentType: "sync", attempt: 1, parentId: second.ack.id, replySeq: 4 });

    // What the agent received.
    const calls = await agents.waitForCalls("/sync", 3);
    for (const [i, call] of calls.entries()) {
      const turnId = [first, second, third][i]!.turnId;
      expect(call.verified).toBe(true);
      expect(call.headers["webhook-id"]).toBe(turnId);
      expect(call.headers["content-type"]).toMatch(/^application\/json/);
      expect(Math.abs(Number(call.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
      expect(call.body.turnId).toBe(turnId);
      expect(call.body.callbackUrl).toMatch(/^https?:\/\/.+\/api\/webhooks\/agents\/sync$/);
      expect(call.body.session).toEqual({ id, agentType: "sync", context: {}, state: {}, metadata: { plan: "pro" } });
      expect(call.body.previous).toEqual([]);
    }
    expect(calls[1]!.body.message).toMatchObject({ id: second.ack.id, seq: 3, direction: "incoming", content: "what is my balance?" });
    expect(calls[1]!.body.messages.map((m: any) => m.content)).toEqual(["what is my balance?"]);
    expect(calls[0]!.body.history).toEqual([]);
    expect(calls[1]!.body.history.map((m: any) => [m.seq, m.direction, m.content])).toEqual([
      [1, "incoming", "hi"],
      [2, "outgoing", "Hello! How can I help?"],
    ]);
    // historyLimit 2: the two messages before this one, not all four.
    expect(calls[2]!.body.history.map((m: any) => [m.seq, m.content])).toEqual([
      [3, "what is my balance?"],
      [4, "Your balance is 10 EUR."],
    ]);
    expect(calls[2]!.body.history[1]).toMatchObject({ intent: "balance", agentInfo: { kind: "agent", turnId: second.turnId } });

    // Postgres: the replies, and the turns' audit rows.
    await reachedPostgres(id, 6);
    const rows = await messageRows(id);
    expect(rows[3]).toMatchObject({
      seq: 4,
      direction: "outgoing",
      user_id: "agent:sync",
      content: "Your balance is 10 EUR.",
      intent: "balance",
      entities: [{ type: "account", value: "main" }],
      parent_id: second.ack.id,
      agent_info: { kind: "agent", agentType: "sync", attempt: 1, turnId: second.turnId },
    });
    expect(Number(rows[3].confidence)).toBeCloseTo(0.95);
    await expect.poll(() => turnRow(second.turnId), { timeout: 10_000 }).toMatchObject({ state: "done", attempts: 1, reply_seq: 4, agent_type: "sync", session_id: id });
    await socket.close();
  });

  it("signs with a plain string secret too (its UTF-8 bytes)", async () => {
    const s = await stack.session("plain");
    stack.agents.on("/plain", reply({ output: "plain ok" }));
    const { reply: r, turnId } = await ask(s, "hello");
    expect(r).toMatchObject({ content: "plain ok", userId: "agent:plain" });
    const [call] = await stack.agents.waitForCalls("/plain", 1);
    expect(call!.headers["webhook-id"]).toBe(turnId);
    expect(call!.headers["webhook-signature"]).toMatch(/^v1,/);
    expect(call!.verified).toBe(true);
    await s.socket.close();
  });

  it("streams an AI SDK UI message stream as deltas, then stores the whole text with its metadata", async () => {
    const s = await stack.session("ui");
    const parts = ["Your ", "transfer ", "is ", "on ", "its way."];
    stack.agents.on("/ui", uiStream(parts, { gapMs: 20, metadata: { intent: "transfer_status", confidence: 0.7 } }));
    const { reply: r, replyFrame, turnId } = await ask(s, "where is my money?");
    expect(r).toMatchObject({ content: parts.join(""), intent: "transfer_status", confidence: 0.7, userId: "agent:ui" });
    expectStreamed(s.socket, turnId, replyFrame, r.content, parts.length);
    await s.socket.next("turn", (f) => f.turn.turnId === turnId && f.turn.state === "done");
    expect(s.socket.of("turn").filter((f) => f.turn.turnId === turnId).map((f) => f.turn.state)).toEqual(["queued", "calling", "streaming", "done"]);
    const [call] = stack.agents.callsTo("/ui");
    expect(call!.headers["webhook-id"]).toBe(turnId);
    expect(call!.headers["webhook-signature"]).toBeUndefined();
    await reachedPostgres(s.id, 2);
    expect((await messageRows(s.id))[1]).toMatchObject({ content: parts.join(""), intent: "transfer_status" });
    await s.socket.close();
  });

  it("streams OpenAI chunks, records the model, and sends the openai-chat request body", async () => {
    const s = await stack.session("oai");
    const parts = ["Hi", " there", "!"];
    stack.agents.on("/oai", [openaiStream(parts, { gapMs: 20, model: "gpt-test-2024" }), openaiStream(["Sure."], { model: "gpt-test-2024" })]);
    const first = await ask(s, "hello");
    expect(first.reply).toMatchObject({ content: "Hi there!", agentInfo: { kind: "agent", agentType: "oai", model: "gpt-test-2024", turnId: first.turnId } });
    expectStreamed(s.socket, first.turnId, first.replyFrame, first.reply.content, parts.length);
    const second = await ask(s, "can you help?");
    expect(second.reply.content).toBe("Sure.");

    const calls = await stack.agents.waitForCalls("/oai", 2);
    expect(calls[0]!.body).toEqual({
      model: "gpt-test",
      messages: [
        { role: "system", content: "You are a bank assistant." },
        { role: "user", content: "hello" },
      ],
      stream: true,
    });
    expect(calls[1]!.body).toEqual({
      model: "gpt-test",
      messages: [
        { role: "system", content: "You are a bank assistant." },
        { role: "user", content: "hello" },
        { role: "assistant", content: "Hi there!" },
        { role: "user", content: "can you help?" },
      ],
      stream: true,
    });
    expect(calls[1]!.headers["webhook-id"]).toBe(second.turnId);
    await s.socket.close();
  });

  it("streams n8n ndjson and sends the n8n-chat request body", async () => {
    const s = await stack.session("n8n");
    const parts = ["One ", "moment ", "please"];
    stack.agents.on("/n8n", ndjsonStream(parts, { gapMs: 20 }));
    const { reply: r, replyFrame, turnId } = await ask(s, "I lost my card");
    expect(r).toMatchObject({ content: "One moment please", userId: "agent:n8n", agentInfo: { agentType: "n8n", turnId } });
    expectStreamed(s.socket, turnId, replyFrame, r.content, parts.length);
    const [call] = await stack.agents.waitForCalls("/n8n", 1);
    expect(call!.body).toMatchObject({
      action: "sendMessage",
      sessionId: s.id,
      chatInput: "I lost my card",
      metadata: { turnId, callbackUrl: expect.stringMatching(/\/api\/webhooks\/agents\/n8n$/) },
    });
    expect(call!.verified).toBe(true);
    await s.socket.close();
  });

  it("streams text/plain as deltas", async () => {
    const s = await stack.session("text");
    const parts = ["plain ", "text ", "streamed ", "reply"];
    stack.agents.on("/text", textStream(parts, { gapMs: 30 }));
    const { reply: r, replyFrame, turnId } = await ask(s, "say something");
    expect(r.content).toBe(parts.join(""));
    // Chunks may coalesce on the way; the text and the order may not.
    expectStreamed(s.socket, turnId, replyFrame, r.content);
    await reachedPostgres(s.id, 2);
    expect((await messageRows(s.id))[1].content).toBe(parts.join(""));
    await s.socket.close();
  });

  it("runs a pipeline in order: the first step's intent and the last step's text and confidence make the reply", async () => {
    const s = await stack.session("router");
    const entities = [{ type: "amount", value: 50, currency: "EUR" }];
    stack.agents.on("/nlu", reply({ output: "", intent: "transfer", entities }));
    stack.agents.on("/banking", reply({ output: "Sure", confidence: 0.9 }));
    const { ack, reply: r, turnId } = await ask(s, "send 50 EUR to Anna");
    expect(r).toMatchObject({
      content: "Sure",
      userId: "agent:router",
      intent: "transfer",
      entities,
      confidence: 0.9,
      parentId: ack.id,
      agentInfo: { kind: "agent", agentType: "router", turnId, steps: ["nlu", "banking"] },
    });
    const [nlu] = stack.agents.callsTo("/nlu");
    const [banking] = stack.agents.callsTo("/banking");
    expect(nlu!.receivedAt).toBeLessThanOrEqual(banking!.receivedAt);
    expect(stack.agents.calls.findIndex((c) => c.path === "/nlu")).toBeLessThan(stack.agents.calls.findIndex((c) => c.path === "/banking"));
    expect(nlu!.body).toMatchObject({ turnId, previous: [], message: { content: "send 50 EUR to Anna" }, callbackUrl: expect.stringMatching(/\/api\/webhooks\/agents\/nlu$/) });
    expect(banking!.body).toMatchObject({
      turnId,
      previous: [{ agentType: "nlu", output: "", intent: "transfer", entities }],
      message: { content: "send 50 EUR to Anna" },
      callbackUrl: expect.stringMatching(/\/api\/webhooks\/agents\/banking$/),
    });
    // One delivery id per step, the same on a retry of that step.
    expect(nlu!.headers["webhook-id"]).toBe(`${turnId}.0`);
    expect(banking!.headers["webhook-id"]).toBe(`${turnId}.1`);
    // Only the last step's reply is a message.
    expect(outgoing(s.socket)).toHaveLength(1);
    await reachedPostgres(s.id, 2);
    expect(await messageRows(s.id)).toHaveLength(2);
    await expect.poll(() => turnRow(turnId), { timeout: 10_000 }).toMatchObject({ state: "done", agent_type: "router", reply_seq: 2 });
    await s.socket.close();
  });

  it("masks card numbers and IBANs before storing them or sending them to the agent", async () => {
    const s = await stack.session("redacting");
    // An agent that quotes a card number back has it masked in the stored reply too.
    stack.agents.on("/redacting", reply({ output: "Did you mean the card 5555 5555 5555 4444?" }));
    const { ack, reply: r } = await ask(s, "My card is 4111 1111 1111 1111 and my IBAN is DE89 3704 0044 0532 0130 00, please help");
    expect(r.content).toBe("Did you mean the card **** **** **** 4444?");
    expect(r.metadata).toEqual({ redactions: [{ kind: "card", count: 1 }] });
    const own = s.socket.of("message").find((f) => f.message.id === ack.id)!.message;
    const leaks = (text: string) => ["4111 1111", "4111111111111111", "3704 0044", "0044 0532", "DE89370400440532013000", "89 3704"].filter((x) => text.includes(x));
    expect(leaks(own.content)).toEqual([]);
    expect(own.content).toContain("1111"); // the last four stay readable
    expect(own.content).toMatch(/^My card is [* ]+1111 and my IBAN is DE[* ]+\d\d \d\d, please help$/);
    expect(own.metadata.redactions).toEqual(expect.arrayContaining([{ kind: "card", count: 1 }, { kind: "iban", count: 1 }]));
    const [call] = await stack.agents.waitForCalls("/redacting", 1);
    expect(leaks(call!.raw)).toEqual([]);
    expect(call!.body.message.content).toBe(own.content);
    await reachedPostgres(s.id, 2);
    const [row, replyRow] = await messageRows(s.id);
    expect(row.content).toBe(own.content);
    expect(row.metadata.redactions).toEqual(expect.arrayContaining([{ kind: "card", count: 1 }, { kind: "iban", count: 1 }]));
    expect(replyRow.content).toBe("Did you mean the card **** **** **** 4444?");
    await s.socket.close();
  });

  it("keeps the context and state an agent returns: context on the session, state in the next request", async () => {
    const s = await stack.session("stateful");
    stack.agents.on("/stateful", [
      reply({ output: "Welcome back, gold member.", context: { tier: "gold" }, state: { step: 2 } }),
      reply({ output: "Step two done.", state: { step: 3 } }),
    ]);
    const first = await ask(s, "hello");
    expect(first.reply.content).toBe("Welcome back, gold member.");
    await s.socket.next("session", (f) => f.session.context?.tier === "gold");
    const got = await stack.call("GET", `/sessions/${s.id}`, s.token);
    expect(got.status).toBe(200);
    expect(got.body.session.context).toMatchObject({ tier: "gold" });
    await ask(s, "next");
    const calls = await stack.agents.waitForCalls("/stateful", 2);
    expect(calls[0]!.body.session).toMatchObject({ context: {}, state: {} });
    expect(calls[1]!.body.session).toMatchObject({ context: { tier: "gold" }, state: { step: 2 } });
    // The context reaches Postgres too (through the outbox).
    await expect
      .poll(async () => (await sql().query(`select context from chat_sessions where id = $1`, [s.id])).rows[0]?.context, { timeout: 10_000 })
      .toMatchObject({ tier: "gold" });
    await s.socket.close();
  });
});

describe("webhook agents that answer later", () => {
  let stack: AgentStack;
  let hookUrl: string;
  beforeAll(async () => {
    stack = await agentStack((url) => ({
      hook: { url: `${url}/hook`, secret: HOOK_SECRET, retryBaseMs: 50, maxAttempts: 3 },
      hookplain: { url: `${url}/hookplain`, secret: PLAIN_SECRET },
    }));
    stack.agents.on("/hookplain", accepted());
    stack.agents.on("/hook", accepted());
    hookUrl = `${stack.worker.url}/api/webhooks/agents/hook`;
  });
  afterAll(() => stack?.stop());

  const waitingFor = async (s: Session, messageId: string, attempt = 1) =>
    (await s.socket.next("turn", (f) => f.turn.parentId === messageId && f.turn.state === "waiting_callback" && f.turn.attempt === attempt)).turn;

  async function send(s: Session, content: string) {
    const clientId = `w${++sent}`;
    s.socket.send({ type: "send", clientId, content });
    return s.socket.next("ack", (f) => f.clientId === clientId);
  }

  it("verifies callbacks: a good one is the reply once, bad, stale, unknown and late ones change nothing", async () => {
    const s = await stack.session("hook");
    const ack = await send(s, "please check my loan");
    const turn = await waitingFor(s, ack.id);
    const [call] = await stack.agents.waitForCalls("/hook", 1);
    expect(call!.verified).toBe(true);
    expect(call!.headers["webhook-id"]).toBe(turn.turnId);
    expect(call!.body.callbackUrl).toBe(hookUrl);
    const body = { turnId: turn.turnId, sessionId: s.id, output: "later", intent: "loan" };

    // Forged and stale signatures: 401, the turn still waits.
    const wrongSecret = await callback(hookUrl, "whsec_" + Buffer.from("not-the-secret-not-the-secret-00").toString("base64"), body);
    expect(wrongSecret).toMatchObject({ status: 401, body: { code: "UNAUTHORIZED" } });
    const garbage = await callback(hookUrl, HOOK_SECRET, body, { signature: "v1,bm90IGEgc2lnbmF0dXJl" });
    expect(garbage.status).toBe(401);
    const stale = await callback(hookUrl, HOOK_SECRET, body, { timestamp: new Date(Date.now() - 10 * 60_000) });
    expect(stale).toMatchObject({ status: 401, body: { code: "UNAUTHORIZED" } });
    // Signed, but not a callback.
    const malformed = await callback(hookUrl, HOOK_SECRET, { hello: "world" });
    expect(malformed).toMatchObject({ status: 400, body: { code: "BAD_REQUEST" } });
    await new Promise((r) => setTimeout(r, 200));
    expect(outgoing(s.socket)).toHaveLength(0);
    expect(s.socket.of("turn").filter((f) => f.turn.turnId === turn.turnId).at(-1)!.turn.state).toBe("waiting_callback");

    // The good one.
    const deliveryId = randomUUID();
    const good = await callback(hookUrl, HOOK_SECRET, body, { id: deliveryId });
    expect(good).toMatchObject({ status: 200, body: { code: "OK" } });
    const replyFrame = await s.socket.next("message", (f) => f.message.direction === "outgoing");
    expect(replyFrame.message).toMatchObject({
      seq: 2,
      content: "later",
      intent: "loan",
      userId: "agent:hook",
      parentId: ack.id,
      agentInfo: { kind: "agent", agentType: "hook", attempt: 1, turnId: turn.turnId },
    });
    await s.socket.next("turn", (f) => f.turn.turnId === turn.turnId && f.turn.state === "done");

    // The same delivery again (a retry by the agent): acknowledged, not stored twice.
    const duplicate = await callback(hookUrl, HOOK_SECRET, body, { id: deliveryId });
    expect(duplicate).toMatchObject({ status: 200, body: { code: "DUPLICATE" } });
    // An unknown turn, and a finished one, with fresh delivery ids.
    const unknown = await callback(hookUrl, HOOK_SECRET, { ...body, turnId: randomUUID(), output: "ghost" });
    expect(unknown).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
    const late = await callback(hookUrl, HOOK_SECRET, { ...body, output: "too late" });
    expect(late).toMatchObject({ status: 409, body: { code: "CONFLICT" } });

    await new Promise((r) => setTimeout(r, 300));
    expect(outgoing(s.socket)).toHaveLength(1);
    expect(s.socket.seqs()).toEqual([1, 2]);
    expect(stack.agents.callsTo("/hook")).toHaveLength(1);
    await reachedPostgres(s.id, 2);
    const rows = await messageRows(s.id);
    expect(rows.map((r) => [r.seq, r.direction, r.content])).toEqual([
      [1, "incoming", "please check my loan"],
      [2, "outgoing", "later"],
    ]);
    await expect.poll(() => turnRow(turn.turnId), { timeout: 10_000 }).toMatchObject({ state: "done", attempts: 1, reply_seq: 2 });
    await s.socket.close();
  });

  it("retries the call when the agent calls back with an error, with the same webhook-id", async () => {
    const s = await stack.session("hook");
    const before = stack.agents.callsTo("/hook").length;
    const ack = await send(s, "what about my mortgage?");
    const turn = await waitingFor(s, ack.id);
    const failed = await callback(hookUrl, HOOK_SECRET, { turnId: turn.turnId, sessionId: s.id, error: "boom" });
    expect(failed).toMatchObject({ status: 200, body: { code: "OK" } });
    // Customers see our words; what the agent said stays in the audit row.
    await s.socket.next("turn", (f) => f.turn.turnId === turn.turnId && f.turn.state === "retry_wait" && f.turn.error === "hook: the agent reported an error");
    expect(JSON.stringify(s.socket.frames)).not.toContain("boom");
    // The next attempt calls the agent again, with the same delivery id.
    const retried = await waitingFor(s, ack.id, 2);
    const calls: AgentCall[] = (await stack.agents.waitForCalls("/hook", before + 2)).slice(before);
    expect(calls.map((c) => c.headers["webhook-id"])).toEqual([turn.turnId, turn.turnId]);
    expect(calls.every((c) => c.verified)).toBe(true);
    expect(calls[1]!.body).toMatchObject({ turnId: turn.turnId, message: { content: "what about my mortgage?" } });
    expect(outgoing(s.socket)).toHaveLength(0);

    const done = await callback(hookUrl, HOOK_SECRET, { turnId: retried.turnId, sessionId: s.id, output: "second time lucky" });
    expect(done.status).toBe(200);
    const replyFrame = await s.socket.next("message", (f) => f.message.direction === "outgoing");
    expect(replyFrame.message).toMatchObject({ content: "second time lucky", agentInfo: { attempt: 2, turnId: turn.turnId } });
    await expect.poll(() => turnRow(turn.turnId), { timeout: 10_000 }).toMatchObject({ state: "done", attempts: 2, reply_seq: 2 });
    await s.socket.close();
  });

  it("verifies callbacks signed with a plain string secret (its UTF-8 bytes)", async () => {
    const s = await stack.session("hookplain");
    const ack = await send(s, "hello?");
    const turn = await waitingFor(s, ack.id);
    const [call] = await stack.agents.waitForCalls("/hookplain", 1);
    expect(call!.verified).toBe(true);
    const url = `${stack.worker.url}/api/webhooks/agents/hookplain`;
    const body = { turnId: turn.turnId, sessionId: s.id, output: "plain callback" };
    // Another agent's secret does not sign for this one.
    expect((await callback(url, HOOK_SECRET, body)).status).toBe(401);
    expect(await callback(url, PLAIN_SECRET, body)).toMatchObject({ status: 200, body: { code: "OK" } });
    const replyFrame = await s.socket.next("message", (f) => f.message.direction === "outgoing");
    expect(replyFrame.message).toMatchObject({ content: "plain callback", userId: "agent:hookplain", parentId: ack.id });
    await s.socket.close();
  });
});
