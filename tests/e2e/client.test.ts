// client/ against the real Worker: createChatClient's typed calls and its session socket through
// dropped, refused and stalled connections (a TCP relay the test controls stands for the network),
// token refresh, gaps paged from history, older history, a hostile server's bad frames, and a real
// agent's streamed reply.
import { createServer, connect as tcpConnect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import ws, { WebSocketServer } from "ws";
import { ChatSocketError, createChatClient, type DeltaEvent, type Message, type SessionSocket, type SocketErrorEvent, type SocketState, type Turn } from "../../client";
import { deferred, uiStream } from "../agents/agent-server";
import { agentStack, type AgentStack } from "../agents/harness";
import { api, baseUrl, dedicatedWorker, newUserId, reachedPostgres, sql, token } from "../helpers";

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const FAST = { minReconnectDelayMs: 50, maxReconnectDelayMs: 200 };

/**
 * The network between the client and a server: forwards TCP to `target`; `cut()` drops every
 * connection (as a server restart or a lost network does), `down` refuses new ones, `stall()` keeps
 * connections open but stops carrying bytes (a half-dead link only a heartbeat notices).
 */
async function relay(target: string) {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  const state = { down: false, stalled: false };
  const server: Server = createServer((client) => {
    if (state.down) return void client.destroy();
    const upstream = tcpConnect(Number(port), hostname);
    open.add(client).add(upstream);
    const forward = (from: Socket, to: Socket) => from.on("data", (chunk) => void (state.stalled || to.write(chunk)));
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      for (const s of open) s.destroy();
    },
    setDown(down: boolean) {
      state.down = down;
      if (down) this.cut();
    },
    stall(stalled: boolean) {
      state.stalled = stalled;
    },
    async close() {
      this.cut();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Records what a socket emits, for assertions on what a user would see. */
function record(sock: SessionSocket) {
  const log = { messages: [] as Message[], states: [] as SocketState[], errors: [] as SocketErrorEvent[], turns: [] as Turn[], deltas: [] as DeltaEvent[] };
  sock.on("message", (m) => log.messages.push(m));
  sock.on("state", (s) => log.states.push(s));
  sock.on("error", (e) => log.errors.push(e));
  sock.on("turn", (t) => log.turns.push(t));
  sock.on("delta", (d) => log.deltas.push(d));
  return log;
}

async function newSession(base = baseUrl()) {
  const userId = newUserId();
  const t = await token(userId);
  const chat = createChatClient({ url: base, getToken: () => t, WebSocket: ws });
  const session = await chat.sessions.create.mutate({ title: "client test" });
  return { userId, token: t, chat, id: session.id };
}

async function httpSend(id: string, t: string, content: string) {
  const res = await api("POST", `/sessions/${id}/messages`, { token: t, body: { content } });
  expect(res.status).toBe(200);
  return res.body as Message;
}

const opened = (sock: SessionSocket, log: { states: SocketState[] }, times = 1) =>
  expect.poll(() => log.states.filter((s) => s === "open").length, { timeout: 10_000 }).toBeGreaterThanOrEqual(times);

const sockets: SessionSocket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});
const track = (s: SessionSocket) => (sockets.push(s), s);

describe("createChatClient against the real Worker", () => {
  let net: Awaited<ReturnType<typeof relay>>;
  beforeAll(async () => {
    net = await relay(baseUrl());
  });
  afterAll(() => net?.close());
  afterEach(() => {
    net.setDown(false);
    net.stall(false);
  });

  it("gives typed procedures and a socket whose send resolves with the stored message", async () => {
    const s = await newSession();
    const got = await s.chat.sessions.get.query({ sessionId: s.id });
    expect(got.session).toMatchObject({ id: s.id, title: "client test", status: "active" });
    const sock = track(s.chat.connect(s.id));
    const log = record(sock);
    const stored = await sock.send("My card was declined", { clientId: "first", metadata: { card: "visa" } });
    expect(stored).toMatchObject({ sessionId: s.id, seq: 1, clientId: "first", content: "My card was declined", direction: "incoming", metadata: { card: "visa" } });
    expect(log.states).toEqual(["open"]);
    expect(sock.state).toBe("open");
    // The same clientId again is the same stored message (the first content), not a second one.
    expect(await sock.send("My card was declined (again)", { clientId: "first" })).toEqual(stored);
    const page = await s.chat.messages.history.query({ sessionId: s.id });
    expect(page.messages).toEqual([stored]);
    expect(log.messages).toEqual([stored]);
    expect(sock.lastSeq).toBe(1);
  });

  it("reconnects after the connection drops and misses nothing, with nothing twice", async () => {
    const s = await newSession();
    const sock = track(createChatClient({ url: net.url, getToken: () => s.token, WebSocket: ws }).connect(s.id, { since: 0, ...FAST }));
    const log = record(sock);
    await opened(sock, log);
    for (const i of range(1, 3)) await httpSend(s.id, s.token, `before ${i}`);
    await expect.poll(() => log.messages.length).toBe(3);

    net.setDown(true);
    await expect.poll(() => sock.state).toBe("offline");
    for (const i of range(4, 8)) await httpSend(s.id, s.token, `while away ${i}`);
    net.setDown(false);
    await opened(sock, log, 2);
    await httpSend(s.id, s.token, "after");
    await expect.poll(() => log.messages.length).toBe(9);
    await sleep(200);
    expect(log.messages.map((m) => m.seq)).toEqual(range(1, 9));
    expect(log.messages.map((m) => m.content)).toEqual([...range(1, 3).map((i) => `before ${i}`), ...range(4, 8).map((i) => `while away ${i}`), "after"]);
    expect(log.states.slice(0, 3)).toEqual(["open", "offline", "open"]);
  });

  it("keeps sends made while offline and flushes them in order once back; a full queue refuses more", async () => {
    const s = await newSession();
    const sock = track(createChatClient({ url: net.url, getToken: () => s.token, WebSocket: ws }).connect(s.id, { since: 0, maxQueue: 5, ...FAST }));
    const log = record(sock);
    await opened(sock, log);
    net.setDown(true);
    await expect.poll(() => sock.state).toBe("offline");
    const queued = range(1, 5).map((i) => sock.send(`offline ${i}`));
    const refused = await sock.send("one too many").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ChatSocketError);
    expect(refused).toMatchObject({ code: "QUEUE_FULL", message: /maxQueue 5/ });
    await sleep(300);
    expect(log.messages).toEqual([]);

    net.setDown(false);
    const stored = await Promise.all(queued);
    expect(stored.map((m) => [m.seq, m.content])).toEqual(range(1, 5).map((i) => [i, `offline ${i}`]));
    await expect.poll(() => log.messages.length).toBe(5);
    expect(log.messages).toEqual(stored);
    await reachedPostgres(s.id, 5);
    const { rows } = await sql().query(`select seq, content from chat_messages where session_id = $1 order by seq`, [s.id]);
    expect(rows.map((r) => r.content)).toEqual(range(1, 5).map((i) => `offline ${i}`));
  });

  it("drains an offline queue longer than the session's burst at the session's rate, in order, every send stored", async () => {
    // 3 back to back, then one every 100 ms.
    const worker = await dedicatedWorker({ MESSAGE_BURST: "3", MESSAGE_RATE_PER_MINUTE: "600" });
    try {
      const s = await newSession(worker.url);
      const sock = track(s.chat.connect(s.id, { since: 0, ...FAST }));
      const log = record(sock);
      // Written before the socket is open: all of them go out at once when it opens.
      const stored = await Promise.all(range(1, 8).map((i) => sock.send(`queued ${i}`)));
      expect(stored.map((m) => [m.seq, m.content])).toEqual(range(1, 8).map((i) => [i, `queued ${i}`]));
      // The refusals were handled by waiting, not shown to the user.
      expect(log.errors).toEqual([]);
      await expect.poll(() => log.messages.length).toBe(8);
      // And the socket goes on normally afterwards.
      await sleep(150);
      expect((await sock.send("after")).seq).toBe(9);
      sock.close();
      await expect(sock.loadOlder(10)).resolves.toEqual(expect.any(Array));
      const never = track(s.chat.connect(s.id));
      never.close();
      await expect(never.loadOlder(10)).rejects.toMatchObject({ code: "CLOSED" });
    } finally {
      await worker.stop();
    }
  });

  it("notices a connection that went silent (heartbeat) and redials", async () => {
    const s = await newSession();
    const sock = track(createChatClient({ url: net.url, getToken: () => s.token, WebSocket: ws }).connect(s.id, { heartbeatMs: 200, pongTimeoutMs: 300, connectionTimeoutMs: 1_000, ...FAST }));
    const log = record(sock);
    await opened(sock, log);
    net.stall(true);
    await httpSend(s.id, s.token, "sent while the link was stalled");
    await expect.poll(() => log.states.includes("offline"), { timeout: 5_000 }).toBe(true);
    net.stall(false);
    await opened(sock, log, 2);
    await expect.poll(() => log.messages.map((m) => m.content)).toEqual(["sent while the link was stalled"]);
  });

  it("sends again, once, what was written but never acknowledged before the connection died", async () => {
    const s = await newSession();
    const sock = track(createChatClient({ url: net.url, getToken: () => s.token, WebSocket: ws }).connect(s.id, { since: 0, ...FAST }));
    const log = record(sock);
    await opened(sock, log);
    // The link carries nothing: the frame is written on the open socket but is lost with it.
    net.stall(true);
    const sending = sock.send("lost on the way");
    await sleep(100);
    net.stall(false);
    net.cut();
    const stored = await sending;
    expect(stored).toMatchObject({ seq: 1, content: "lost on the way" });
    expect(log.states).toContain("offline");
    await reachedPostgres(s.id, 1);
    await sleep(200);
    const { rows } = await sql().query(`select seq from chat_messages where session_id = $1`, [s.id]);
    expect(rows.map((r) => r.seq)).toEqual([1]);
    expect(log.messages.map((m) => m.content)).toEqual(["lost on the way"]);
  });

  it("asks getToken again on every reconnect and uses the new token", async () => {
    const userId = newUserId();
    const tokens: string[] = [];
    // The first token expires two seconds after it is issued; later ones last an hour.
    const getToken = async () => {
      const t = await token(userId, { expiresIn: tokens.length === 0 ? "2s" : "1h" });
      tokens.push(t);
      return t;
    };
    const chat = createChatClient({ url: net.url, getToken, WebSocket: ws });
    const created = await chat.sessions.create.mutate({});
    const sock = track(chat.connect(created.id, { since: 0, ...FAST }));
    const log = record(sock);
    await opened(sock, log);
    const callsWhenOpen = tokens.length;
    await sleep(2_500);
    // The first token is expired now: a redial with it would be refused with 401.
    expect((await api("GET", `/sessions/${created.id}`, { token: tokens[0] })).status).toBe(401);
    net.cut();
    await opened(sock, log, 2);
    expect(tokens.length).toBeGreaterThan(callsWhenOpen);
    const stored = await sock.send("with a fresh token");
    expect(stored).toMatchObject({ seq: 1, userId });
    expect(sock.state).toBe("open");
  });

  it("pages a gap too large to replay (resync) from history, then carries on live, in order", async () => {
    const s = await newSession();
    // REPLAY_LIMIT is 100 in the tests.
    for (let i = 1; i <= 130; i += 10) await Promise.all(range(i, i + 9).map((n) => httpSend(s.id, s.token, `m${n}`)));
    const sock = track(s.chat.connect(s.id, { since: 10, historyPageSize: 50 }));
    const log = record(sock);
    await expect.poll(() => log.messages.length, { timeout: 10_000 }).toBe(120);
    await httpSend(s.id, s.token, "live");
    await expect.poll(() => log.messages.length).toBe(121);
    expect(log.messages.map((m) => m.seq)).toEqual(range(11, 131));
    expect(log.errors).toEqual([]);
    // Older history is there too, before `since`.
    expect((await sock.loadOlder(4)).map((m) => m.seq)).toEqual(range(7, 10));
  });

  it("loads older history page by page before the oldest message seen", async () => {
    const s = await newSession();
    for (const i of range(1, 25)) await httpSend(s.id, s.token, `old ${i}`);
    const sock = track(s.chat.connect(s.id));
    const log = record(sock);
    // Two at once get consecutive pages.
    const pages: number[][] = (await Promise.all([sock.loadOlder(10), sock.loadOlder(10)])).map((page) => page.map((m) => m.seq));
    for (;;) {
      const page = await sock.loadOlder(10);
      if (page.length === 0) break;
      pages.push(page.map((m) => m.seq));
    }
    expect(pages).toEqual([range(16, 25), range(6, 15), range(1, 5)]);
    expect(log.messages).toEqual([]);
    const live = await sock.send("new");
    expect(live.seq).toBe(26);
  });

  it("stops for good, without retrying, when the session cannot be joined", async () => {
    const s = await newSession();
    const stranger = createChatClient({ url: baseUrl(), getToken: () => token(newUserId()), WebSocket: ws });
    const sock = track(stranger.connect(s.id, FAST));
    const log = record(sock);
    const pending = sock.send("hello?").catch((e: unknown) => e);
    await expect.poll(() => sock.state, { timeout: 10_000 }).toBe("closed");
    expect(log.errors).toEqual([expect.objectContaining({ code: "NOT_FOUND" })]);
    expect(await pending).toMatchObject({ code: "CLOSED" });
    const states = log.states.length;
    await sleep(500);
    expect(log.states.length).toBe(states);
  });
});

describe("a hostile server", () => {
  let wss: WebSocketServer;
  let url: string;
  const seen: { protocols: string[] }[] = [];
  const session = crypto.randomUUID();
  const message = (seq: number) => ({
    id: crypto.randomUUID(), sessionId: session, seq, clientId: null, userId: "u", direction: "incoming", content: `m${seq}`, messageType: "text",
    metadata: {}, intent: null, entities: null, sentiment: null, confidence: null, agentInfo: null, processingMs: null, errorInfo: null, parentId: null,
    createdAt: new Date().toISOString(),
  });
  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: (p) => (p.has("edge-chat") ? "edge-chat" : false) });
    await new Promise((r) => wss.once("listening", r));
    url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    wss.on("connection", (socket, req) => {
      seen.push({ protocols: String(req.headers["sec-websocket-protocol"]).split(",").map((p) => p.trim()) });
      socket.send(JSON.stringify({ type: "ready", sessionId: session, lastSeq: 0 }));
      socket.send("this is not json");
      socket.send(JSON.stringify({ type: "message", message: { ...message(1), seq: "one" } }));
      socket.send(JSON.stringify({ type: "surprise", payload: 1 }));
      socket.send(JSON.stringify({ type: "turn", turn: { turnId: "t", state: "exploded", agentType: "a", attempt: 1, parentId: "p" } }));
      socket.send(JSON.stringify({ type: "delta", turnId: "t", attempt: 1, index: -5, text: "x" }));
      socket.send(JSON.stringify({ type: "session", session: { id: session } }));
      socket.send(JSON.stringify({ type: "message", message: message(1) }));
    });
  });
  afterAll(() => new Promise<void>((r) => wss.close(() => r())));

  it("rejects every frame that does not match the protocol, and carries on with the good ones", async () => {
    const sock = track(createChatClient({ url, getToken: () => "the-token", WebSocket: ws }).connect(session));
    const log = record(sock);
    const sessions: unknown[] = [];
    sock.on("session", (x) => sessions.push(x));
    await expect.poll(() => log.messages.length, { timeout: 5_000 }).toBe(1);
    expect(seen[0]!.protocols).toEqual(["edge-chat", "bearer.the-token"]);
    expect(log.errors.map((e) => e.code)).toEqual(["BAD_FRAME", "BAD_FRAME", "BAD_FRAME", "BAD_FRAME", "BAD_FRAME", "BAD_FRAME"]);
    expect(log.errors[0]!.message).toMatch(/not JSON/);
    expect(log.errors[1]!.message).toMatch(/"message" frame[\s\S]*seq/);
    expect(log.errors[2]!.message).toMatch(/"surprise"/);
    expect(log.errors[3]!.message).toMatch(/state/);
    expect(log.turns).toEqual([]);
    expect(log.deltas).toEqual([]);
    expect(sessions).toEqual([]);
    expect(log.messages.map((m) => [m.seq, m.content])).toEqual([[1, "m1"]]);
    expect(sock.state).toBe("open");
  });
});

describe("an agent's streamed reply", () => {
  let stack: AgentStack;
  beforeAll(async () => {
    stack = await agentStack((url) => ({ streamer: { url: `${url}/streamer` } }));
  });
  afterAll(() => stack?.stop());

  it("arrives as deltas carrying the text so far, also on a socket that joins mid-turn; a turn can be cancelled", async () => {
    const held = deferred();
    stack.agents.on("/streamer", [uiStream(["Your ", "order ", "ships ", "on ", "Monday."], { holdAfter: 3, until: held.promise }), uiStream(["never ", "finished"], { holdAfter: 1 })]);
    const userId = newUserId();
    const t = await token(userId);
    const chat = createChatClient({ url: stack.worker.url, getToken: () => t, WebSocket: ws });
    const created = await chat.sessions.create.mutate({ agentType: "streamer" });
    const sock = track(chat.connect(created.id));
    const log = record(sock);
    const asked = await sock.send("where is my order?");
    await expect.poll(() => log.deltas.length, { timeout: 10_000 }).toBe(3);
    expect(log.deltas.map((d) => [d.index, d.delta, d.text])).toEqual([[0, "Your ", "Your "], [1, "order ", "Your order "], [2, "ships ", "Your order ships "]]);

    // A second device joins while the reply is being written.
    const late = track(chat.connect(created.id));
    const lateLog = record(late);
    await expect.poll(() => lateLog.turns.length).toBeGreaterThan(0);
    expect(lateLog.turns[0]).toMatchObject({ state: "streaming", text: "Your order ships ", index: 2, parentId: asked.id });
    held.resolve();
    await expect.poll(() => log.messages.some((m) => m.direction === "outgoing"), { timeout: 10_000 }).toBe(true);
    const reply = log.messages.find((m) => m.direction === "outgoing")!;
    expect(reply.content).toBe("Your order ships on Monday.");
    expect(log.deltas.at(-1)!.text).toBe(reply.content);
    await expect.poll(() => lateLog.messages.some((m) => m.id === reply.id)).toBe(true);
    expect(lateLog.deltas.map((d) => d.index)).toEqual([3, 4]);
    expect(lateLog.deltas.at(-1)!.text).toBe(reply.content);
    // The turn's "done" frame follows the reply's message frame.
    await expect.poll(() => log.turns.at(-1)?.state).toBe("done");
    expect(log.turns.map((x) => x.state)).toEqual(expect.arrayContaining(["queued", "calling", "streaming", "done"]));
    expect(log.turns.at(-1)).toMatchObject({ state: "done", replySeq: reply.seq });

    // The next reply is held after one piece: stop it.
    await sock.send("and my refund?");
    await expect.poll(() => log.deltas.filter((d) => d.text === "never ").length, { timeout: 10_000 }).toBe(1);
    expect(sock.cancelTurn()).toBe(true);
    await expect.poll(() => log.turns.at(-1)?.state, { timeout: 10_000 }).toBe("cancelled");
    await sleep(200);
    expect(log.messages.filter((m) => m.direction === "outgoing")).toHaveLength(1);
  });
});
