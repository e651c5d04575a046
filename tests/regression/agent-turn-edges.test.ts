// Agent turns at their edges (found in review): what an agent says can never stall the outbox or reach
// customers raw, a callback that beats the 202 is used, a cut-off stream is retried, streamed deltas
// are masked, a handoff to a prototype key is ignored, a late reply does not reopen a resolved session,
// and every pipeline step's context reaches the session.
import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accepted, callback, hang, reply, status, uiStream, type AgentCall, type Behaviour } from "../agents/agent-server";
import { agentStack, deltaText, type AgentStack } from "../agents/harness";
import { reachedPostgres, sql } from "../helpers";

const SECRET = "edges-secret-0123456789";
let stack: AgentStack;

beforeAll(async () => {
  stack = await agentStack((url) => ({
    a: { url: `${url}/a`, secret: SECRET, timeoutMs: 2000, maxAttempts: 3, retryBaseMs: 50 },
    hook: { url: `${url}/hook`, secret: SECRET, callbackTimeoutMs: 20_000 },
    late: { url: `${url}/late`, secret: SECRET, callbackTimeoutMs: 600, maxAttempts: 3, retryBaseMs: 50 },
    router2: { pipeline: ["nlu2", "bank2"] },
    nlu2: { url: `${url}/nlu2`, secret: SECRET },
    bank2: { url: `${url}/bank2`, secret: SECRET },
  }));
}, 60_000);
afterAll(() => stack?.stop());

/** Sends a customer message; resolves with the agent's reply to it. */
async function ask(s: Awaited<ReturnType<AgentStack["session"]>>, content: string, clientId: string) {
  s.socket.send({ type: "send", clientId, content });
  const ack = await s.socket.next("ack", (f) => f.clientId === clientId);
  const m = await s.socket.next("message", (f) => f.message.parentId === ack.id && f.message.direction !== "incoming", 15_000);
  return { ack, message: m.message };
}

async function turnRow(turnId: string, state: string) {
  for (let i = 0; i < 100; i++) {
    const { rows } = await sql().query(`select state, attempts, error from chat_turns where id = $1`, [turnId]);
    if (rows[0]?.state === state) return rows[0] as { state: string; attempts: number; error: string };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`turn ${turnId} never reached ${state} in Postgres`);
}

describe("agent turns at their edges", () => {
  it("an agent's error body with NUL never reaches customers nor stalls the outbox; admins find it in the audit row", async () => {
    stack.agents.on("/a", [status(503, { body: "Traceback at secret.py:42 \u0000 boom" }), reply({ output: "fine now" })]);
    const s = await stack.session("a");
    const { ack, message } = await ask(s, "hello", "n1");
    expect(message.content).toBe("fine now");
    const retry = s.socket.of("turn").find((f) => f.turn.state === "retry_wait");
    expect(retry?.turn.error).toBe("a: HTTP 503");
    expect(JSON.stringify(s.socket.frames)).not.toContain("Traceback");
    await reachedPostgres(s.id, message.seq);
    const row = await turnRow(message.agentInfo.turnId, "done");
    expect(row.attempts).toBe(2);
    expect(ack.seq).toBe(1);
  });

  it("after the last attempt the notice says what happened in our words, not the agent's", async () => {
    stack.agents.on("/a", status(500, { body: "internal stack trace with password=hunter2" }));
    const s = await stack.session("a");
    const { message } = await ask(s, "hello", "f1");
    expect(message).toMatchObject({ direction: "system", errorInfo: { agent: "a", attempts: 3, error: "a: HTTP 500 (after 3 attempts)" } });
    expect(JSON.stringify(s.socket.frames)).not.toContain("hunter2");
    const row = await turnRow(message.errorInfo.turnId, "failed");
    expect(row.error).toContain("hunter2");
  });

  it("a callback that arrives before the agent's 202 is used, once", async () => {
    let call!: AgentCall;
    const slow202: Behaviour = async (c: AgentCall, res: ServerResponse) => {
      call = c;
      const body = { turnId: c.body.turnId, sessionId: c.body.session.id, output: "done early" };
      const answer = await callback(`${stack.worker.url}/api/webhooks/agents/hook`, SECRET, body, { id: `early-${c.body.turnId}` });
      expect(answer.status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      res.writeHead(202).end();
    };
    stack.agents.on("/hook", slow202);
    const s = await stack.session("hook");
    const { message } = await ask(s, "look this up", "h1");
    expect(message.content).toBe("done early");
    await new Promise((r) => setTimeout(r, 600));
    expect(s.socket.of("message").filter((f) => f.message.direction === "outgoing")).toHaveLength(1);
    const again = await callback(`${stack.worker.url}/api/webhooks/agents/hook`, SECRET, { turnId: call.body.turnId, sessionId: s.id, output: "x" }, { id: `early-${call.body.turnId}` });
    expect(again.body.code).toBe("DUPLICATE");
  });

  it("a callback after the deadline is used once; a stale error report does not end the attempt in flight", async () => {
    // Attempt 1 is accepted and never answered in time; attempt 2 hangs.
    stack.agents.on("/late", [accepted(), hang()]);
    const s = await stack.session("late");
    s.socket.send({ type: "send", clientId: "late-1", content: "slow question" });
    const ack = await s.socket.next("ack", (f) => f.clientId === "late-1");
    const [first] = await stack.agents.waitForCalls("/late", 1);
    await stack.agents.waitForCalls("/late", 2, 10_000);
    const url = `${stack.worker.url}/api/webhooks/agents/late`;
    const ids = { turnId: first!.body.turnId, sessionId: s.id };
    // Attempt 1's failure report, late: the attempt in flight goes on.
    const stale = await callback(url, SECRET, { ...ids, error: "gave up" });
    expect(stale.status).toBe(409);
    expect(s.socket.of("turn").some((f) => f.turn.turnId === ids.turnId && f.turn.state === "failed")).toBe(false);
    // Attempt 1's answer, late: used, once; the hanging attempt is dropped.
    const late = await callback(url, SECRET, { ...ids, output: "here after all" }, { id: "late-delivery" });
    expect(late).toMatchObject({ status: 200, body: { code: "OK" } });
    const m = await s.socket.next("message", (f) => f.message.parentId === ack.id && f.message.direction === "outgoing");
    expect(m.message.content).toBe("here after all");
    await s.socket.next("turn", (f) => f.turn.turnId === ids.turnId && f.turn.state === "done");
    expect((await callback(url, SECRET, { ...ids, output: "again" }, { id: "late-delivery" })).body.code).toBe("DUPLICATE");
    await new Promise((r) => setTimeout(r, 700));
    expect(s.socket.of("message").filter((f) => f.message.direction !== "incoming")).toHaveLength(1);
    expect(stack.agents.callsTo("/late").length).toBe(2);
  });

  it("a callback for a turn waiting for its next attempt is used, and that attempt never comes", async () => {
    stack.agents.on("/late", [status(429, { headers: { "retry-after": "3" } }), reply({ output: "from the retry" })]);
    const s = await stack.session("late");
    s.socket.send({ type: "send", clientId: "rw-1", content: "question" });
    const ack = await s.socket.next("ack", (f) => f.clientId === "rw-1");
    const waiting = await s.socket.next("turn", (f) => f.turn.parentId === ack.id && f.turn.state === "retry_wait");
    const answer = await callback(`${stack.worker.url}/api/webhooks/agents/late`, SECRET, { turnId: waiting.turn.turnId, sessionId: s.id, output: "answered meanwhile" });
    expect(answer).toMatchObject({ status: 200, body: { code: "OK" } });
    const m = await s.socket.next("message", (f) => f.message.parentId === ack.id && f.message.direction === "outgoing");
    expect(m.message.content).toBe("answered meanwhile");
    await s.socket.next("turn", (f) => f.turn.turnId === waiting.turn.turnId && f.turn.state === "done");
    await new Promise((r) => setTimeout(r, 3_500));
    expect(stack.agents.callsTo("/late").filter((c) => c.body.turnId === waiting.turn.turnId)).toHaveLength(1);
    expect(s.socket.of("message").filter((f) => f.message.direction === "outgoing")).toHaveLength(1);
  });

  it("a stream cut off before it says it is complete is retried; only the complete reply is stored", async () => {
    const cutOff: Behaviour = (_c, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end('data: {"type":"text-delta","id":"t","delta":"half a rep"}\n\n');
    };
    stack.agents.on("/a", [cutOff, uiStream(["The whole ", "reply."])]);
    const s = await stack.session("a");
    const { message } = await ask(s, "hello", "c1");
    expect(message.content).toBe("The whole reply.");
    expect(deltaText(s.socket, message.agentInfo.turnId)).toBe("The whole reply.");
    expect(stack.agents.callsTo("/a").length).toBeGreaterThanOrEqual(2);
  });

  it("a card number in a streamed reply is masked in every delta, and the deltas add up to the stored reply", async () => {
    stack.agents.on("/a", uiStream(["Your card 41", "11 1111 11", "11 1111 is blocked; IBAN DE", "89 3704 0044 0532 0130 00 ok"]));
    const s = await stack.session("a");
    const { message } = await ask(s, "status?", "r1");
    expect(message.content).toBe("Your card **** **** **** 1111 is blocked; IBAN DE** **** **** **** **30 00 ok");
    expect(message.metadata.redactions).toEqual([{ kind: "card", count: 1 }, { kind: "iban", count: 1 }]);
    const deltas = s.socket.of("delta").filter((d) => d.turnId === message.agentInfo.turnId);
    for (const d of deltas) expect(d.text).not.toMatch(/\d{4} \d{4}|3704/);
    expect(deltaText(s.socket, message.agentInfo.turnId)).toBe(message.content);
  });

  it("a handoff to a name that is no agent type (even one on Object.prototype) is ignored; the session keeps working", async () => {
    stack.agents.on("/a", [reply({ output: "passing on", handoff: { to: "constructor" } }), reply({ output: "still me" })]);
    const s = await stack.session("a");
    await ask(s, "hi", "p1");
    const { message } = await ask(s, "again", "p2");
    expect(message.content).toBe("still me");
    expect(s.socket.of("session").every((f) => f.session.agentType === "a")).toBe(true);
  });

  it("a reply that arrives after the customer resolved the session is stored but does not reopen it", async () => {
    stack.agents.on("/a", reply({ output: "late answer" }, { delayMs: 800 }));
    const s = await stack.session("a");
    s.socket.send({ type: "send", clientId: "l1", content: "hello" });
    await s.socket.next("ack", (f) => f.clientId === "l1");
    const resolved = await stack.call("POST", `/sessions/${s.id}/resolve`, s.token, {});
    expect(resolved.status).toBe(200);
    const m = await s.socket.next("message", (f) => f.message.direction === "outgoing", 10_000);
    expect(m.message.content).toBe("late answer");
    await reachedPostgres(s.id, m.message.seq);
    const got = await stack.call("GET", `/sessions/${s.id}`, s.token);
    expect(got.body.session.status).toBe("resolved");
  });

  it("every pipeline step's context reaches the session", async () => {
    stack.agents.on("/nlu2", reply({ output: "", intent: "balance", context: { language: "en" } }));
    stack.agents.on("/bank2", reply({ output: "Here it is", context: { account: "checking" } }));
    const s = await stack.session("router2");
    await ask(s, "balance?", "k1");
    const changed = await s.socket.next("session", (f) => f.session.context.account === "checking");
    expect(changed.session.context).toMatchObject({ language: "en", account: "checking" });
  });
});
