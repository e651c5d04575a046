// Agent turns end to end: a Worker of its own calls a local agent server the test controls. Turns
// survive timeouts, failing agents, cancels, reconnects and a SIGKILL; handoffs move a session between
// agents and humans. What is asserted is what a customer or support staff would notice.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentStack, deltaText, type AgentStack } from "../agents/harness";
import { deferred, hang, reply, status, uiStream, type AgentCall, type Behaviour } from "../agents/agent-server";
import { TestSocket, dedicatedWorker, newUserId, sql, token, type Frame } from "../helpers";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Session = Awaited<ReturnType<AgentStack["session"]>>;

/** Sends a customer message on the session's socket; resolves with its ack (id, seq). */
async function say(s: Session, content: string): Promise<Frame> {
  const clientId = `c-${randomUUID().slice(0, 8)}`;
  s.socket.send({ type: "send", clientId, content });
  return s.socket.next("ack", (f) => f.clientId === clientId);
}

/** The messages a socket received from the agent side (replies, staff), in arrival order. */
const outgoing = (socket: TestSocket) => socket.of("message").map((f) => f.message).filter((m) => m.direction === "outgoing");

/** Waits for a stored message frame matching `match`; returns the message. */
async function nextMessage(socket: TestSocket, match: (m: any) => boolean, timeoutMs?: number): Promise<any> {
  return (await socket.next("message", (f) => match(f.message), timeoutMs)).message;
}

/** The states a turn went through, as its frames told. */
const statesOf = (socket: TestSocket, turnId: string) => socket.of("turn").filter((f) => f.turn.turnId === turnId).map((f) => f.turn.state as string);

/** A JSON reply echoing the contents of the messages the turn answers, after `delayMs`; tracks calls in flight. */
function echo(delayMs: number, track: { inFlight: number; max: number }): Behaviour {
  return async (call: AgentCall, res, signal) => {
    track.inFlight += 1;
    track.max = Math.max(track.max, track.inFlight);
    try {
      await sleep(delayMs);
      if (signal.aborted) return;
      const contents = (call.body.messages as { content: string }[]).map((m) => m.content).join(" + ");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ output: `echo: ${contents}` }));
    } finally {
      track.inFlight -= 1;
    }
  };
}

/** Polls a REST read until `check` passes (the audit trail and handling reach Postgres through the outbox). */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value).slice(0, 1000)}`);
    await sleep(100);
  }
}

describe("agent turns", () => {
  let stack: AgentStack;
  let adminId: string;
  let admin: string;
  const agent = (url: string, path: string, extra: Record<string, unknown> = {}) => ({
    url: `${url}/${path}`,
    secret: `secret-${path}`,
    timeoutMs: 800,
    retryBaseMs: 50,
    maxAttempts: 3,
    ...extra,
  });

  beforeAll(async () => {
    adminId = newUserId("admin");
    admin = await token(adminId, { admin: true });
    stack = await agentStack((url) => ({
      primary: agent(url, "primary"),
      timeout: agent(url, "timeout", { timeoutMs: 500 }),
      // Named apart: agents.health aggregates the whole database by agent type.
      turns_down: agent(url, "down"),
      refused: agent(url, "refused"),
      limited: agent(url, "limited"),
      gate: agent(url, "gate"),
      a: agent(url, "a"),
      b: agent(url, "b"),
      c: agent(url, "c"),
      d: agent(url, "d"),
      slow: agent(url, "slow", { timeoutMs: 3_000 }),
      merged: agent(url, "merged", { timeoutMs: 3_000, concurrency: "merge" }),
      // A held stream must not time out between chunks while the test holds it.
      stream: agent(url, "stream", { timeoutMs: 15_000, maxAttempts: 1 }),
      hanging: agent(url, "hanging", { timeoutMs: 15_000, maxAttempts: 1 }),
      closer: agent(url, "closer", { timeoutMs: 3_000 }),
      rejoin: agent(url, "rejoin", { timeoutMs: 15_000, maxAttempts: 1 }),
      waiting: agent(url, "waiting", { maxAttempts: 5 }),
      takeover: agent(url, "takeover", { timeoutMs: 15_000, maxAttempts: 1 }),
      ending: agent(url, "ending", { timeoutMs: 15_000, maxAttempts: 1 }),
      // The first attempt stalls mid-stream and times out between chunks.
      restream: agent(url, "restream", { timeoutMs: 800, maxAttempts: 2 }),
    }));
  });
  afterAll(() => stack?.stop());

  it("retries a call that timed out with the same webhook-id, and stores the reply once", async () => {
    stack.agents.on("/timeout", [hang(), reply({ output: "second try" })]);
    const s = await stack.session("timeout");
    const ack = await say(s, "are you there?");
    const stored = await nextMessage(s.socket, (m) => m.direction === "outgoing");
    expect(stored).toMatchObject({ content: "second try", parentId: ack.id, agentInfo: { kind: "agent", agentType: "timeout", attempt: 2 } });
    const calls = stack.agents.callsTo("/timeout");
    expect(calls).toHaveLength(2);
    expect(calls[0]!.headers["webhook-id"]).toBeTruthy();
    expect(calls[1]!.headers["webhook-id"]).toBe(calls[0]!.headers["webhook-id"]);
    expect(calls.map((c) => c.verified)).toEqual([true, true]);
    // The first attempt's request was given up on, not left open.
    expect(calls[0]!.aborted).toBe(true);
    const turnId = stored.agentInfo.turnId as string;
    await s.socket.next("turn", (f) => f.turn.turnId === turnId && f.turn.state === "done");
    const states = statesOf(s.socket, turnId);
    expect(states.indexOf("retry_wait")).toBeGreaterThan(-1);
    expect(states.at(-1)).toBe("done");
    expect(states.indexOf("retry_wait")).toBeLessThan(states.indexOf("done"));
    expect(s.socket.of("turn").find((f) => f.turn.state === "retry_wait")!.turn.error).toMatch(/no answer within 500 ms/);
    await sleep(300);
    expect(stack.agents.callsTo("/timeout")).toHaveLength(2);
    expect(outgoing(s.socket).map((m) => m.content)).toEqual(["second try"]);
    await eventually(
      async () => (await sql().query(`select content from chat_messages where session_id = $1 order by seq`, [s.id])).rows.map((r) => r.content),
      (rows) => rows.length === 2,
      "both messages in Postgres",
    );
    expect((await sql().query(`select count(*)::int as n from chat_messages where session_id = $1 and content = 'second try'`, [s.id])).rows[0].n).toBe(1);
    // The audit trail: one row for the turn, in its final state.
    const audit = await eventually(
      async () => (await sql().query(`select state, attempts, reply_seq, message_id, dead_letter from chat_turns where session_id = $1`, [s.id])).rows,
      (rows) => rows[0]?.state === "done",
      "the turn's audit row",
    );
    expect(audit).toEqual([{ state: "done", attempts: 2, reply_seq: 2, message_id: ack.id, dead_letter: false }]);
    await s.socket.close();
  });

  let failed: { session: Session; turnId: string; messageId: string };

  it("gives up after maxAttempts: the customer is told, a human gets the session, staff see the dead letter", async () => {
    const before = (await stack.call("GET", "/agents/health", admin)).body.agents.find((a: any) => a.agentType === "turns_down");
    stack.agents.on("/down", status(503, { body: "upstream down" }));
    const s = await stack.session("turns_down");
    const ack = await say(s, "help me please");
    // A second message while the first turn is failing: queued, then dropped with the handoff, never sent.
    const queuedAck = await say(s, "hello?");
    const notice = await nextMessage(s.socket, (m) => m.direction === "system");
    expect(stack.agents.callsTo("/down")).toHaveLength(3);
    expect(notice).toMatchObject({ parentId: ack.id, errorInfo: { agent: "turns_down", attempts: 3, error: expect.stringMatching(/503/) } });
    expect(notice.content).toMatch(/unavailable/);
    const turnId = notice.errorInfo.turnId as string;
    const handedOver = await s.socket.next("session", (f) => f.session.handler === "human");
    expect(handedOver.session).toMatchObject({ handler: "human", handlerUserId: null, handlerSince: expect.any(String) });
    const states = statesOf(s.socket, turnId);
    expect(states.filter((x) => x === "retry_wait")).toHaveLength(2);
    expect(states.at(-1)).toBe("failed");
    // The turn queued behind it was dropped with the handoff without ever being started.
    const queued = s.socket.of("turn").filter((f) => f.turn.parentId === queuedAck.id).map((f) => f.turn.state);
    expect(queued).toEqual(["queued", "cancelled"]);
    await sleep(300);
    expect(stack.agents.callsTo("/down")).toHaveLength(3);
    expect(outgoing(s.socket)).toEqual([]);

    const dead = await eventually(
      () => stack.call("GET", "/agents/dead-letters?limit=200", admin),
      (r) => r.status === 200 && r.body.turns.some((t: any) => t.turnId === turnId),
      "the dead letter",
    );
    expect(dead.body.turns.find((t: any) => t.turnId === turnId)).toMatchObject({
      sessionId: s.id, agentType: "turns_down", messageId: ack.id, state: "failed", attempts: 3, error: expect.stringMatching(/503/),
    });
    // Customers cannot read the dead letters.
    expect((await stack.call("GET", "/agents/dead-letters", s.token)).status).toBe(403);
    await eventually(
      () => stack.call("GET", "/sessions/waiting?limit=200", admin),
      (r) => r.status === 200 && r.body.sessions.some((x: any) => x.id === s.id && x.handler === "human"),
      "the session among those waiting for a human",
    );
    const health = await stack.call("GET", "/agents/health", admin);
    expect(health.status).toBe(200);
    const after = health.body.agents.find((a: any) => a.agentType === "turns_down");
    expect(after).toMatchObject({ configured: true, lastError: expect.stringMatching(/503/), lastErrorAt: expect.any(String) });
    // Counted over the whole database (a rerun on the same one adds to it): this turn's share.
    expect({ calls: after.calls - before.calls, failures: after.failures - before.failures, deadLetters: after.deadLetters - before.deadLetters })
      .toEqual({ calls: 3, failures: 1, deadLetters: 1 });
    failed = { session: s, turnId, messageId: ack.id };
  });

  it("replays a dead letter once the agent is back: the turn runs again, the reply is stored, the agent has the session again", async () => {
    const { session: s, turnId, messageId } = failed;
    stack.agents.on("/down", reply({ output: "back" }));
    expect((await stack.call("POST", `/agents/dead-letters/${turnId}/retry`, s.token)).status).toBe(403);
    const replayed = await stack.call("POST", `/agents/dead-letters/${turnId}/retry`, admin);
    expect(replayed).toMatchObject({ status: 200, body: { turnId, sessionId: s.id } });
    const stored = await nextMessage(s.socket, (m) => m.direction === "outgoing");
    expect(stored).toMatchObject({ content: "back", parentId: messageId, agentInfo: { turnId, agentType: "turns_down" } });
    expect(stack.agents.callsTo("/down")).toHaveLength(4);
    expect(stack.agents.callsTo("/down")[3]!.body.messages.map((m: any) => m.content)).toEqual(["help me please"]);
    const back = await s.socket.next("session", (f) => f.session.handler === "agent");
    expect(back.session.agentType).toBe("turns_down");
    await s.socket.next("turn", (f) => f.turn.turnId === turnId && f.turn.state === "done");
    // Replayed: no longer a dead letter, no longer waiting, and not replayable twice.
    await eventually(
      () => stack.call("GET", "/agents/dead-letters?limit=200", admin),
      (r) => r.status === 200 && !r.body.turns.some((t: any) => t.turnId === turnId),
      "the dead letter gone",
    );
    await eventually(
      () => stack.call("GET", "/sessions/waiting?limit=200", admin),
      (r) => r.status === 200 && !r.body.sessions.some((x: any) => x.id === s.id),
      "the session no longer waiting",
    );
    expect((await stack.call("POST", `/agents/dead-letters/${turnId}/retry`, admin)).status).toBe(409);
    await s.socket.close();
  });

  it("does not retry a 4xx: one call, then the notice and a human", async () => {
    stack.agents.on("/refused", status(400, { body: "bad request body" }));
    const s = await stack.session("refused");
    await say(s, "hello");
    const notice = await nextMessage(s.socket, (m) => m.direction === "system");
    expect(notice.errorInfo).toMatchObject({ agent: "refused", attempts: 1, error: expect.stringMatching(/400/) });
    await s.socket.next("session", (f) => f.session.handler === "human");
    await sleep(400);
    expect(stack.agents.callsTo("/refused")).toHaveLength(1);
    expect(statesOf(s.socket, notice.errorInfo.turnId)).not.toContain("retry_wait");
    await s.socket.close();
  });

  it("waits as long as Retry-After says after a 429", async () => {
    stack.agents.on("/limited", [status(429, { headers: { "retry-after": "1" } }), reply({ output: "after the wait" })]);
    const s = await stack.session("limited");
    await say(s, "hi");
    const stored = await nextMessage(s.socket, (m) => m.direction === "outgoing");
    expect(stored.content).toBe("after the wait");
    const [first, second] = stack.agents.callsTo("/limited");
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(900);
    expect(second!.headers["webhook-id"]).toBe(first!.headers["webhook-id"]);
    await s.socket.close();
  });

  it("calls no agent while a human holds the session; staff reply, take it, and hand it back", async () => {
    stack.agents.on("/gate", [reply({ output: "a person will help", handoff: { to: "human", reason: "asked for one" } }), reply({ output: "agent again" })]);
    const s = await stack.session("gate");
    await say(s, "I want a person");
    await nextMessage(s.socket, (m) => m.content === "a person will help");
    const human = await s.socket.next("session", (f) => f.session.handler === "human");
    expect(human.session.handlerUserId).toBeNull();
    const turnFrames = s.socket.of("turn").length;

    await say(s, "anyone?");
    await say(s, "hello??");
    await sleep(1_000);
    expect(stack.agents.callsTo("/gate")).toHaveLength(1);
    // No turn was even queued for them.
    expect(s.socket.of("turn")).toHaveLength(turnFrames);

    // Customers cannot hand a session around; staff can reply only while a human holds it.
    expect((await stack.call("POST", `/sessions/${s.id}/handoff`, s.token, { to: "gate" })).status).toBe(403);
    const staffReply = await stack.call("POST", `/sessions/${s.id}/messages`, admin, { content: "Hi, I'm Sam from support." });
    expect(staffReply.status).toBe(200);
    expect(staffReply.body).toMatchObject({ direction: "outgoing", userId: adminId, agentInfo: { kind: "human", userId: adminId } });
    const shown = await nextMessage(s.socket, (m) => m.content === "Hi, I'm Sam from support.");
    expect(shown).toMatchObject({ direction: "outgoing", agentInfo: { kind: "human", userId: adminId } });
    await s.socket.next("session", (f) => f.session.handler === "human" && f.session.handlerUserId === adminId);
    expect(stack.agents.callsTo("/gate")).toHaveLength(1);

    const handedBack = await stack.call("POST", `/sessions/${s.id}/handoff`, admin, { to: "gate" });
    expect(handedBack).toMatchObject({ status: 200, body: { handler: "agent", agentType: "gate", handlerUserId: null } });
    await s.socket.next("session", (f) => f.session.handler === "agent");
    expect((await stack.call("POST", `/sessions/${s.id}/messages`, admin, { content: "not mine any more" })).status).toBe(403);
    await sleep(200);
    expect(stack.agents.callsTo("/gate")).toHaveLength(1);

    const ack = await say(s, "thanks, back to the bot");
    const stored = await nextMessage(s.socket, (m) => m.content === "agent again");
    expect(stored.parentId).toBe(ack.id);
    const calls = stack.agents.callsTo("/gate");
    expect(calls).toHaveLength(2);
    expect(calls[1]!.body.messages.map((m: any) => m.content)).toEqual(["thanks, back to the bot"]);
    expect(calls[1]!.body.history.map((m: any) => m.content)).toContain("Hi, I'm Sam from support.");
    await s.socket.close();
  });

  it("hands a session from one agent to another, and from an agent to a human", async () => {
    stack.agents.on("/a", reply({ output: "passing you on", handoff: { to: "b" } }));
    stack.agents.on("/b", reply({ output: "a person will help", handoff: { to: "human" } }));
    const s = await stack.session("a");
    await say(s, "question one");
    expect(await nextMessage(s.socket, (m) => m.direction === "outgoing")).toMatchObject({ content: "passing you on", agentInfo: { agentType: "a" } });
    const toB = await s.socket.next("session", (f) => f.session.agentType === "b");
    expect(toB.session.handler).toBe("agent");

    await say(s, "question two");
    const fromB = await nextMessage(s.socket, (m) => m.content === "a person will help");
    expect(fromB.agentInfo).toMatchObject({ kind: "agent", agentType: "b" });
    expect(stack.agents.callsTo("/a")).toHaveLength(1);
    expect(stack.agents.callsTo("/b")).toHaveLength(1);
    expect(stack.agents.callsTo("/b")[0]!.body.session.agentType).toBe("b");
    const human = await s.socket.next("session", (f) => f.session.handler === "human");
    expect(human.session).toMatchObject({ agentType: "b", handlerUserId: null });
    await eventually(
      async () => (await sql().query(`select agent_type, handler from chat_sessions where id = $1`, [s.id])).rows[0],
      (row) => row?.agent_type === "b" && row?.handler === "human",
      "the handoffs in Postgres",
    );
    await s.socket.close();
  });

  it("sends messages that waited behind a handing-off reply where the session went", async () => {
    stack.agents.on("/c", reply({ output: "over to d", handoff: { to: "d" } }, { delayMs: 400 }));
    stack.agents.on("/d", reply({ output: "over to a person", handoff: { to: "human" } }, { delayMs: 400 }));
    const s = await stack.session("c");
    await say(s, "one");
    await stack.agents.waitForCalls("/c", 1);
    const two = await say(s, "two");
    await nextMessage(s.socket, (m) => m.content === "over to d");
    // "two" waited while c answered: d answers it, c is not asked again.
    const [toD] = await stack.agents.waitForCalls("/d", 1);
    expect(toD!.body.messages.map((m: any) => m.content)).toEqual(["two"]);
    const three = await say(s, "three");
    const fromD = await nextMessage(s.socket, (m) => m.content === "over to a person");
    expect(fromD).toMatchObject({ parentId: two.id, agentInfo: { agentType: "d" } });
    await s.socket.next("session", (f) => f.session.handler === "human");
    // "three" waited while d answered: the human has it now, no agent is asked.
    await s.socket.next("turn", (f) => f.turn.parentId === three.id && f.turn.state === "cancelled");
    await sleep(300);
    expect(s.socket.of("turn").filter((f) => f.turn.parentId === three.id).map((f) => f.turn.state)).toEqual(["queued", "cancelled"]);
    expect(stack.agents.callsTo("/c")).toHaveLength(1);
    expect(stack.agents.callsTo("/d")).toHaveLength(1);
    expect(outgoing(s.socket).map((m) => m.content)).toEqual(["over to d", "over to a person"]);
    await s.socket.close();
  });

  it("answers queued messages one at a time, in order, each reply to its own message", async () => {
    const track = { inFlight: 0, max: 0 };
    stack.agents.on("/slow", echo(400, track));
    const s = await stack.session("slow");
    const clientIds = ["q1", "q2", "q3"];
    for (const c of clientIds) s.socket.send({ type: "send", clientId: c, content: `message ${c}` });
    const acks = await Promise.all(clientIds.map((c) => s.socket.next("ack", (f) => f.clientId === c)));
    await s.socket.until((fs) => fs.filter((f) => f.type === "message" && f.message.direction === "outgoing").length === 3, 10_000, "three replies");
    const replies = outgoing(s.socket);
    expect(replies.map((m) => m.content)).toEqual(["echo: message q1", "echo: message q2", "echo: message q3"]);
    expect(replies.map((m) => m.parentId)).toEqual(acks.map((a) => a.id));
    expect(replies.map((m) => m.seq)).toEqual([...replies.map((m) => m.seq)].sort((x, y) => x - y));
    const calls = stack.agents.callsTo("/slow");
    expect(calls).toHaveLength(3);
    expect(track.max).toBe(1);
    for (let i = 1; i < calls.length; i++) expect(calls[i]!.receivedAt - calls[i - 1]!.receivedAt).toBeGreaterThanOrEqual(390);
    // Each call carries one message, a different webhook-id each turn.
    expect(calls.map((c) => c.body.messages.length)).toEqual([1, 1, 1]);
    expect(new Set(calls.map((c) => c.headers["webhook-id"])).size).toBe(3);
    await s.socket.close();
  });

  it("merges messages that arrive during a turn into one next turn", async () => {
    const track = { inFlight: 0, max: 0 };
    stack.agents.on("/merged", echo(400, track));
    const s = await stack.session("merged");
    await say(s, "first");
    await stack.agents.waitForCalls("/merged", 1);
    await say(s, "second");
    const third = await say(s, "third");
    await s.socket.until((fs) => fs.filter((f) => f.type === "message" && f.message.direction === "outgoing").length === 2, 10_000, "two replies");
    await sleep(600);
    const calls = stack.agents.callsTo("/merged");
    expect(calls).toHaveLength(2);
    expect(calls[1]!.body.messages.map((m: any) => m.content)).toEqual(["second", "third"]);
    const replies = outgoing(s.socket);
    expect(replies.map((m) => m.content)).toEqual(["echo: first", "echo: second + third"]);
    expect(replies[1].parentId).toBe(third.id);
    expect(track.max).toBe(1);
    await s.socket.close();
  });

  it("stops a streaming turn on a cancel frame: the call is aborted and nothing is stored", async () => {
    const held = deferred();
    stack.agents.on("/stream", uiStream(["Let ", "me ", "check ", "that."], { holdAfter: 2, until: held.promise }));
    const s = await stack.session("stream");
    await say(s, "what's my balance?");
    await s.socket.until((fs) => fs.filter((f) => f.type === "delta").length === 2, 10_000, "two deltas");
    const turnId = s.socket.of("delta")[0]!.turnId as string;
    expect(deltaText(s.socket, turnId)).toBe("Let me ");
    s.socket.send({ type: "cancel" });
    const cancelled = await s.socket.next("turn", (f) => f.turn.turnId === turnId && f.turn.state === "cancelled");
    expect(cancelled.turn.error).toBe("cancelled");
    await expect.poll(() => stack.agents.callsTo("/stream")[0]!.aborted, { timeout: 5_000 }).toBe(true);
    await sleep(300);
    expect(outgoing(s.socket)).toEqual([]);
    expect(s.socket.of("delta")).toHaveLength(2);
    expect(stack.agents.callsTo("/stream")).toHaveLength(1);
    // Cancelling again: nothing is running.
    s.socket.send({ type: "cancel", turnId });
    expect((await s.socket.next("error")).code).toBe("CONFLICT");
    const history = await stack.call("GET", `/sessions/${s.id}/history`, s.token);
    expect(history.body.messages.map((m: any) => m.direction)).toEqual(["incoming"]);
    held.resolve();
    await s.socket.close();
  });

  it("stops turns over REST: a queued one by id, then the running one, whose hanging call is aborted", async () => {
    stack.agents.on("/hanging", hang());
    const s = await stack.session("hanging");
    await say(s, "hello?");
    await stack.agents.waitForCalls("/hanging", 1);
    const turn = await s.socket.next("turn", (f) => f.turn.state === "calling");
    const queuedAck = await say(s, "is this thing on?");
    const queued = await s.socket.next("turn", (f) => f.turn.parentId === queuedAck.id && f.turn.state === "queued");
    const dropped = await stack.call("POST", `/sessions/${s.id}/turns/cancel`, s.token, { turnId: queued.turn.turnId });
    expect(dropped).toMatchObject({ status: 200, body: { turnId: queued.turn.turnId, state: "cancelled" } });
    // The running call is untouched by that.
    await sleep(100);
    expect(stack.agents.callsTo("/hanging")[0]!.aborted).toBe(false);

    const res = await stack.call("POST", `/sessions/${s.id}/turns/cancel`, s.token, {});
    expect(res).toMatchObject({ status: 200, body: { turnId: turn.turn.turnId, state: "cancelled" } });
    await s.socket.next("turn", (f) => f.turn.turnId === turn.turn.turnId && f.turn.state === "cancelled");
    await expect.poll(() => stack.agents.callsTo("/hanging")[0]!.aborted, { timeout: 5_000 }).toBe(true);
    // Someone else's session is not theirs to cancel; a finished turn stays finished.
    expect((await stack.call("POST", `/sessions/${s.id}/turns/cancel`, await token(newUserId()), {})).status).toBe(404);
    expect((await stack.call("POST", `/sessions/${s.id}/turns/cancel`, s.token, { turnId: turn.turn.turnId })).status).toBe(409);
    expect((await stack.call("POST", `/sessions/${s.id}/turns/cancel`, s.token, {})).status).toBe(404);
    await sleep(300);
    expect(outgoing(s.socket)).toEqual([]);
    // The cancelled queued turn never ran.
    expect(stack.agents.callsTo("/hanging")).toHaveLength(1);
    expect(s.socket.of("turn").filter((f) => f.turn.turnId === queued.turn.turnId).map((f) => f.turn.state)).toEqual(["queued", "cancelled"]);
    await s.socket.close();
  });

  it("does not resume a turn cancelled while it waited to retry", async () => {
    stack.agents.on("/waiting", status(503, { headers: { "retry-after": "1" } }));
    const s = await stack.session("waiting");
    await say(s, "hi");
    const waiting = await s.socket.next("turn", (f) => f.turn.state === "retry_wait");
    s.socket.send({ type: "cancel", turnId: waiting.turn.turnId });
    await s.socket.next("turn", (f) => f.turn.turnId === waiting.turn.turnId && f.turn.state === "cancelled");
    await sleep(1_500);
    expect(stack.agents.callsTo("/waiting")).toHaveLength(1);
    expect(s.socket.of("message").map((f) => f.message.direction)).toEqual(["incoming"]);
    // Still the agent's session: the next message is a new turn.
    stack.agents.on("/waiting", reply({ output: "fine now" }));
    await say(s, "hello again");
    await nextMessage(s.socket, (m) => m.content === "fine now");
    expect(stack.agents.callsTo("/waiting")).toHaveLength(2);
    await s.socket.close();
  });

  it("discards the text of an attempt that broke off mid-stream: the stored reply is the retry's, once", async () => {
    const held = deferred();
    stack.agents.on("/restream", [uiStream(["Half ", "a "], { holdAfter: 2 }), uiStream(["The ", "whole ", "answer."], { holdAfter: 1, until: held.promise })]);
    const s = await stack.session("restream");
    await say(s, "tell me");
    await s.socket.next("turn", (f) => f.turn.state === "retry_wait");
    const first = s.socket.of("delta");
    expect(first.map((f) => [f.attempt, f.index, f.text])).toEqual([[1, 0, "Half "], [1, 1, "a "]]);
    // A socket joining during the second attempt sees none of the first one's text.
    await s.socket.until((fs) => fs.some((f) => f.type === "delta" && f.attempt === 2), 10_000, "the second attempt's first delta");
    const joiner = await TestSocket.open(s.id, { token: s.token }, { base: stack.worker.url });
    const joined = await joiner.next("turn");
    expect(joined.turn).toMatchObject({ state: "streaming", attempt: 2, text: "The ", index: 0 });
    held.resolve();
    const stored = await nextMessage(s.socket, (m) => m.direction === "outgoing");
    expect(stored.content).toBe("The whole answer.");
    expect(deltaText(s.socket, stored.agentInfo.turnId)).toBe("The whole answer.");
    await nextMessage(joiner, (m) => m.direction === "outgoing");
    expect(joined.turn.text + joiner.of("delta").map((f) => f.text).join("")).toBe("The whole answer.");
    expect(outgoing(s.socket)).toHaveLength(1);
    await Promise.all([s.socket.close(), joiner.close()]);
  });

  it("stops the reply being written when staff take the session", async () => {
    const held = deferred();
    stack.agents.on("/takeover", uiStream(["I think ", "that ", "you should"], { holdAfter: 1, until: held.promise }));
    const s = await stack.session("takeover");
    await say(s, "I need a refund");
    const delta = await s.socket.next("delta");
    const taken = await stack.call("POST", `/sessions/${s.id}/handoff`, admin, { to: "human" });
    expect(taken).toMatchObject({ status: 200, body: { handler: "human", handlerUserId: adminId } });
    const cancelled = await s.socket.next("turn", (f) => f.turn.turnId === delta.turnId && f.turn.state === "cancelled");
    expect(cancelled.turn.error).toMatch(/human/);
    await s.socket.next("session", (f) => f.session.handler === "human" && f.session.handlerUserId === adminId);
    await expect.poll(() => stack.agents.callsTo("/takeover")[0]!.aborted, { timeout: 5_000 }).toBe(true);
    held.resolve();
    expect((await stack.call("POST", `/sessions/${s.id}/messages`, admin, { content: "Refund issued." })).status).toBe(200);
    await nextMessage(s.socket, (m) => m.content === "Refund issued.");
    await sleep(200);
    expect(outgoing(s.socket).map((m) => m.content)).toEqual(["Refund issued."]);
    expect(stack.agents.callsTo("/takeover")).toHaveLength(1);
    await s.socket.close();
  });

  it("stops the running turn when the customer ends the session", async () => {
    stack.agents.on("/ending", hang());
    const s = await stack.session("ending");
    await say(s, "never mind");
    await stack.agents.waitForCalls("/ending", 1);
    expect((await stack.call("DELETE", `/sessions/${s.id}`, s.token)).status).toBe(200);
    expect((await s.socket.closed).code).toBe(4000);
    await expect.poll(() => stack.agents.callsTo("/ending")[0]!.aborted, { timeout: 5_000 }).toBe(true);
    expect(s.socket.of("turn").at(-1)!.turn.state).toBe("cancelled");
    const history = await stack.call("GET", `/sessions/${s.id}/history`, s.token);
    expect(history.body.messages.map((m: any) => m.direction)).toEqual(["incoming"]);
    await sleep(200);
    expect(stack.agents.callsTo("/ending")).toHaveLength(1);
  });

  it("does not treat a closing socket as a cancel: the reply is stored", async () => {
    stack.agents.on("/closer", reply({ output: "still here" }, { delayMs: 600 }));
    const s = await stack.session("closer");
    await say(s, "quick question");
    const [call] = await stack.agents.waitForCalls("/closer", 1);
    await s.socket.close();
    const history = await eventually(
      () => stack.call("GET", `/sessions/${s.id}/history`, s.token),
      (r) => r.status === 200 && r.body.messages.length === 2,
      "the reply in the history",
    );
    expect(history.body.messages.map((m: any) => [m.direction, m.content])).toEqual([["incoming", "quick question"], ["outgoing", "still here"]]);
    expect(call!.aborted).toBe(false);
    expect(stack.agents.callsTo("/closer")).toHaveLength(1);
  });

  it("gives a socket that joins mid-stream the text so far, then only the later deltas", async () => {
    const held = deferred();
    stack.agents.on("/rejoin", uiStream(["Your ", "order ", "ships ", "on ", "Monday."], { holdAfter: 3, until: held.promise }));
    const s = await stack.session("rejoin");
    await say(s, "where is my order?");
    await s.socket.until((fs) => fs.filter((f) => f.type === "delta").length === 3, 10_000, "three deltas");
    const turnId = s.socket.of("delta")[0]!.turnId as string;
    const soFar = deltaText(s.socket, turnId);
    expect(soFar).toBe("Your order ships ");

    const second = await TestSocket.open(s.id, { token: s.token }, { base: stack.worker.url });
    await second.next("ready");
    const joined = await second.next("turn");
    expect(joined.turn).toMatchObject({ turnId, state: "streaming", text: soFar, index: 2 });
    held.resolve();
    const stored = await nextMessage(second, (m) => m.direction === "outgoing");
    expect(stored.content).toBe("Your order ships on Monday.");
    const later = second.of("delta").filter((f) => f.turnId === turnId);
    expect(later.map((f) => f.index)).toEqual([3, 4]);
    expect(joined.turn.text + later.map((f) => f.text).join("")).toBe(stored.content);
    await nextMessage(s.socket, (m) => m.direction === "outgoing");
    expect(deltaText(s.socket, turnId)).toBe(stored.content);
    await Promise.all([s.socket.close(), second.close()]);
  });
});

describe("a Worker killed mid-call", () => {
  let stack: AgentStack;
  beforeAll(async () => {
    stack = await agentStack((url) => ({
      durable: { url: `${url}/durable`, secret: "durable-secret", timeoutMs: 5_000, retryBaseMs: 50, maxAttempts: 3 },
      later: { url: `${url}/later`, secret: "later-secret", timeoutMs: 800, retryBaseMs: 50, maxAttempts: 3 },
    }));
  });
  afterAll(() => stack?.stop());

  it("resumes the pending job after a SIGKILL with the same webhook-id, and stores the reply once", async () => {
    stack.agents.on("/durable", [hang(), reply({ output: "survived" })]);
    const s = await stack.session("durable");
    const ack = await say(s, "before the crash");
    const [first] = await stack.agents.waitForCalls("/durable", 1);
    await stack.worker.kill();
    await stack.worker.restart();
    const socket = await TestSocket.open(s.id, { token: s.token }, { base: stack.worker.url });
    await socket.next("ready");
    const calls = await stack.agents.waitForCalls("/durable", 2, 20_000);
    expect(calls[1]!.headers["webhook-id"]).toBe(first!.headers["webhook-id"]);
    expect(calls[1]!.verified).toBe(true);
    const stored = await nextMessage(socket, (m) => m.direction === "outgoing", 10_000);
    expect(stored).toMatchObject({ content: "survived", parentId: ack.id, agentInfo: { attempt: 2 } });
    const rows = await eventually(
      async () => (await sql().query(`select seq, direction, content from chat_messages where session_id = $1 order by seq`, [s.id])).rows,
      (r) => r.length >= 2,
      "both messages in Postgres",
    );
    await sleep(300);
    expect(rows).toEqual([
      { seq: 1, direction: "incoming", content: "before the crash" },
      { seq: 2, direction: "outgoing", content: "survived" },
    ]);
    expect(stack.agents.callsTo("/durable")).toHaveLength(2);
    await socket.close();
  }, 45_000);

  it("keeps a retry that was waiting when the Worker died: the alarm runs it with nobody connected", async () => {
    stack.agents.on("/later", [status(503, { headers: { "retry-after": "2" } }), reply({ output: "made it" })]);
    const s = await stack.session("later");
    await say(s, "still queued?");
    await s.socket.next("turn", (f) => f.turn.state === "retry_wait");
    const [first] = stack.agents.callsTo("/later");
    await stack.worker.kill();
    await stack.worker.restart();
    const [, second] = await stack.agents.waitForCalls("/later", 2, 20_000);
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(1_900);
    expect(second!.headers["webhook-id"]).toBe(first!.headers["webhook-id"]);
    const rows = await eventually(
      async () => (await sql().query(`select seq, direction, content from chat_messages where session_id = $1 order by seq`, [s.id])).rows,
      (r) => r.length >= 2,
      "the reply in Postgres",
    );
    expect(rows.map((r: any) => r.content)).toEqual(["still queued?", "made it"]);
    expect(stack.agents.callsTo("/later")).toHaveLength(2);
  }, 45_000);
});

describe("a Worker with a broken AGENTS", () => {
  let worker: Awaited<ReturnType<typeof dedicatedWorker>>;
  beforeAll(async () => {
    worker = await dedicatedWorker({ AGENTS: '{"primary":{"url":"ftp://x"}}' });
  });
  afterAll(() => worker?.stop());

  it("says which field is wrong on /health and when a session is created, and keeps answering", async () => {
    const health = await fetch(`${worker.url}/health`);
    const body = (await health.json()) as any;
    expect(body).toMatchObject({ status: "degraded", db: { ok: true }, agents: { ok: false } });
    expect(body.agents.error).toContain("AGENTS.primary.url");
    const t = await token(newUserId());
    const created = await fetch(`${worker.url}/api/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(created.status).toBe(500);
    expect(((await created.json()) as any).message).toContain("AGENTS.primary.url");
    const again = await fetch(`${worker.url}/health`);
    expect(again.status).toBe(200);
    expect(((await again.json()) as any).agents.ok).toBe(false);
  });
});
