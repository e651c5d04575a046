// The session socket on the shared Worker: fan-out and order, catch-up, dedupe, concurrency, bad
// frames, access, and lifecycle pushes. Durability and limits use Workers of their own (durability.test.ts).
import { describe, expect, it } from "vitest";
import { ChatSocketError, type Message } from "../../client";
import { TestSocket, api, baseUrl, client, newUserId, reachedPostgres, runCron, sql, token } from "../helpers";

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function newSession(userId = newUserId()) {
  const t = await token(userId);
  const res = await api("POST", "/sessions", { token: t, body: { title: "socket test" } });
  expect(res.status).toBe(200);
  return { userId, token: t, id: res.body.id as string };
}

async function httpSend(id: string, t: string, content: string, clientId?: string) {
  const res = await api("POST", `/sessions/${id}/messages`, { token: t, body: { content, ...(clientId ? { clientId } : {}) } });
  expect(res.status).toBe(200);
  return res.body as Message;
}

describe("the session socket", () => {
  it("shows two devices of one user and an admin the same messages in the same order", async () => {
    const s = await newSession();
    const phone = await TestSocket.open(s.id, { token: s.token, via: "query" });
    const laptop = await TestSocket.open(s.id, { token: s.token, via: "protocol" });
    const admin = await TestSocket.open(s.id, { token: await token(newUserId("admin"), { admin: true }) });
    expect(laptop.ws.protocol).toBe("edge-chat");
    for (const sock of [phone, laptop, admin]) await sock.next("ready", (f) => f.sessionId === s.id && f.lastSeq === 0);
    await phone.until((fs) => fs.some((f) => f.type === "presence" && f.online.length === 2), 5_000, "presence with both users");

    // Both devices and the REST API write at once.
    const acks = [
      ...range(1, 10).map((i) => {
        phone.send({ type: "send", clientId: `p${i}`, content: `phone ${i}` });
        return phone.next("ack", (f) => f.clientId === `p${i}`);
      }),
      ...range(1, 10).map((i) => {
        laptop.send({ type: "send", clientId: `l${i}`, content: `laptop ${i}` });
        return laptop.next("ack", (f) => f.clientId === `l${i}`);
      }),
    ];
    const viaHttp = await Promise.all(range(1, 5).map((i) => httpSend(s.id, s.token, `http ${i}`)));
    const acked = await Promise.all(acks);
    expect([...acked.map((a) => a.seq), ...viaHttp.map((m) => m.seq)].sort((a, b) => a - b)).toEqual(range(1, 25));

    for (const sock of [phone, laptop, admin]) await sock.until((fs) => fs.filter((f) => f.type === "message").length >= 25, 5_000, "25 messages");
    const order = (sock: TestSocket) => sock.of("message").map((f) => `${f.message.seq}:${f.message.content}`);
    expect(phone.seqs()).toEqual(range(1, 25));
    expect(order(laptop)).toEqual(order(phone));
    expect(order(admin)).toEqual(order(phone));
    // Per device, its own messages keep the order it sent them in.
    const phoneOwn = phone.of("message").map((f) => f.message.content).filter((c: string) => c.startsWith("phone"));
    expect(phoneOwn).toEqual(range(1, 10).map((i) => `phone ${i}`));
    // Each ack names the stored message the others received.
    const first = acked[0]!;
    expect(laptop.of("message").find((f) => f.message.seq === first.seq)?.message).toMatchObject({ id: first.id, clientId: "p1", userId: s.userId, createdAt: first.createdAt });

    // An admin may watch but not write.
    admin.send({ type: "send", clientId: "a1", content: "admin here" });
    expect(await admin.next("error", (f) => f.clientId === "a1")).toMatchObject({ code: "FORBIDDEN" });

    // Typing and read receipts reach the others.
    phone.send({ type: "typing", isTyping: true });
    expect(await laptop.next("typing")).toEqual({ type: "typing", userId: s.userId, isTyping: true });
    laptop.send({ type: "read", seq: 25 });
    expect(await admin.next("read")).toEqual({ type: "read", userId: s.userId, seq: 25 });
    await Promise.all([phone.close(), laptop.close(), admin.close()]);

    await reachedPostgres(s.id, 25);
    const { rows } = await sql().query(`select seq, content from chat_messages where session_id = $1 order by seq`, [s.id]);
    expect(rows.map((r) => `${r.seq}:${r.content}`)).toEqual(order(phone));
  });

  it("catches a reconnecting client up with exactly the messages it missed", async () => {
    const s = await newSession();
    const first = await TestSocket.open(s.id, { token: s.token });
    await first.next("ready");
    for (const i of range(1, 5)) await httpSend(s.id, s.token, `before ${i}`);
    await first.until((fs) => fs.filter((f) => f.type === "message").length === 5);
    await first.close();
    for (const i of range(6, 12)) await httpSend(s.id, s.token, `while away ${i}`);

    const back = await TestSocket.open(s.id, { token: s.token }, { since: 5 });
    const ready = await back.next("ready");
    expect(ready.lastSeq).toBe(12);
    // The gap arrives in order, before `ready`, each message once.
    const readyAt = back.frames.indexOf(ready);
    expect(back.frames.slice(0, readyAt).filter((f) => f.type === "message").map((f) => f.message.seq)).toEqual(range(6, 12));
    await httpSend(s.id, s.token, "live");
    await back.until((fs) => fs.filter((f) => f.type === "message").length === 8);
    expect(back.seqs()).toEqual(range(6, 13));
    await back.close();

    // Up to date: nothing replayed. No `since`: only new messages.
    for (const since of [13, undefined]) {
      const sock = await TestSocket.open(s.id, { token: s.token }, { since });
      expect(await sock.next("ready")).toMatchObject({ lastSeq: 13 });
      expect(sock.of("message")).toEqual([]);
      await sock.close();
    }
  });

  it("says resync when the gap is too large to replay, and the client pages it from history", async () => {
    const s = await newSession();
    // REPLAY_LIMIT is 100 in the tests.
    await Promise.all(range(1, 130).map((i) => httpSend(s.id, s.token, `m${i}`, `k${i}`)));
    const raw = await TestSocket.open(s.id, { token: s.token }, { since: 10 });
    const ready = await raw.next("ready");
    expect(raw.frames.slice(0, raw.frames.indexOf(ready)).filter((f) => f.type !== "presence")).toEqual([
      { type: "resync", fromSeq: 11, lastSeq: 130 },
    ]);
    await raw.close();

    const received: number[] = [];
    const sock = (await client(s.userId)).connect(s.id, { since: 10 });
    sock.on("message", (m) => received.push(m.seq));
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(120);
    await httpSend(s.id, s.token, "after the gap");
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(121);
    expect(received).toEqual(range(11, 131));
    sock.close();
  });

  it("stores a clientId once, also when it is sent again after a reconnect", async () => {
    const s = await newSession();
    const a = await TestSocket.open(s.id, { token: s.token });
    await a.next("ready");
    a.send({ type: "send", clientId: "once", content: "hello" });
    const ack = await a.next("ack");
    a.send({ type: "send", clientId: "once", content: "hello (retry)" });
    const again = await a.until((fs) => fs.filter((f) => f.type === "ack")[1]);
    expect(again).toMatchObject({ clientId: "once", seq: ack.seq, id: ack.id, duplicate: true });
    await a.close();

    const b = await TestSocket.open(s.id, { token: s.token }, { since: 0 });
    await b.next("ready");
    b.send({ type: "send", clientId: "once", content: "hello (after reconnect)" });
    expect(await b.next("ack")).toMatchObject({ seq: ack.seq, id: ack.id, duplicate: true });
    // And across paths: the REST send with that clientId is the same message.
    expect(await httpSend(s.id, s.token, "via http", "once")).toMatchObject({ id: ack.id, seq: ack.seq, content: "hello" });
    await b.close();

    // The client's socket re-sends unacknowledged sends after a reconnect with the same clientId.
    const sock = (await client(s.userId)).connect(s.id, { since: 1 });
    const acks = await Promise.all([sock.send("one", { clientId: "c1" }), sock.send("two", { clientId: "c2" }), sock.send("one", { clientId: "c1" })]);
    expect(acks.map((x) => x.seq)).toEqual([2, 3, 2]);
    sock.close();

    await reachedPostgres(s.id, 3);
    const { rows } = await sql().query(`select client_id, count(*)::int as n from chat_messages where session_id = $1 group by client_id order by client_id`, [s.id]);
    expect(rows).toEqual([{ client_id: "c1", n: 1 }, { client_id: "c2", n: 1 }, { client_id: "once", n: 1 }]);
  });

  it("gives 20 sockets sending at once gap-free seqs, in Postgres too", async () => {
    const s = await newSession();
    const sockets = await Promise.all(range(1, 20).map(() => TestSocket.open(s.id, { token: s.token })));
    await Promise.all(sockets.map((sock) => sock.next("ready")));
    sockets.forEach((sock, n) => range(1, 10).forEach((i) => sock.send({ type: "send", clientId: `s${n}-${i}`, content: `socket ${n} message ${i}` })));
    const acks = (await Promise.all(sockets.map((sock) => sock.until((fs) => fs.filter((f) => f.type === "ack").length === 10 && fs.filter((f) => f.type === "ack"))))).flat();
    expect(acks.map((a) => a.seq).sort((a, b) => a - b)).toEqual(range(1, 200));
    // Everyone saw all 200, in the same order.
    await Promise.all(sockets.map((sock) => sock.until((fs) => fs.filter((f) => f.type === "message").length === 200)));
    for (const sock of sockets) expect(sock.seqs()).toEqual(range(1, 200));
    await Promise.all(sockets.map((sock) => sock.close()));

    await reachedPostgres(s.id, 200);
    const { rows } = await sql().query(`select seq, client_id from chat_messages where session_id = $1 order by seq`, [s.id]);
    expect(rows.map((r) => r.seq)).toEqual(range(1, 200));
    for (const a of acks) expect(rows[a.seq - 1].client_id).toBe(a.clientId);
    const { rows: [row] } = await sql().query(`select last_seq, message_count from chat_sessions where id = $1`, [s.id]);
    expect(row).toEqual({ last_seq: 200, message_count: 200 });
  });

  it("answers malformed, oversized and unknown frames with an error frame and stays open", async () => {
    const s = await newSession();
    const sock = await TestSocket.open(s.id, { token: s.token });
    await sock.next("ready");
    const errors = () => sock.of("error");
    const cases: [unknown, RegExp, string?][] = [
      ["not json", /not valid JSON/],
      [{ type: "shout", content: "hi" }, /type/],
      [{ type: "send", content: "no client id" }, /clientId/],
      [{ type: "send", clientId: "e1", content: "   " }, /content must not be empty/, "e1"],
      [{ type: "send", clientId: "e2", content: "é".repeat(4097) }, /8192/, "e2"],
      [{ type: "read", seq: -1 }, /seq/],
      [{ type: "typing" }, /isTyping/],
      [JSON.stringify({ type: "send", clientId: "e3", content: "x", metadata: { blob: "y".repeat(70_000) } }), /limited to 65536 bytes/],
    ];
    for (const [i, [frame]] of cases.entries()) {
      sock.send(frame);
      await sock.until(() => errors().length === i + 1, 5_000, `error frame ${i + 1}`);
    }
    cases.forEach(([, message, clientId], i) => {
      expect(errors()[i]!.message).toMatch(message);
      if (clientId) expect(errors()[i]!.clientId).toBe(clientId);
    });
    expect(errors().map((e) => e.code)).toEqual(["BAD_FRAME", "BAD_FRAME", "BAD_FRAME", "BAD_FRAME", "PAYLOAD_TOO_LARGE", "BAD_FRAME", "BAD_FRAME", "PAYLOAD_TOO_LARGE"]);
    sock.ws.send(Buffer.from([1, 2, 3]));
    expect(await sock.until(() => errors()[8])).toMatchObject({ code: "BAD_FRAME", message: /JSON text/ });

    // Still open, and nothing was stored: the next message is seq 1.
    sock.send({ type: "send", clientId: "ok", content: "fine" });
    expect(await sock.next("ack")).toMatchObject({ clientId: "ok", seq: 1 });
    sock.send({ type: "ping" });
    await sock.next("pong");
    await sock.close();
  });

  it("refuses a socket without upgrading unless the caller may see the session", async () => {
    const s = await newSession();
    const refused = (p: Promise<unknown>) => p.then(() => ({ status: 101, body: null }), (e) => e as { status: number; body: any });
    const stranger = await refused(TestSocket.open(s.id, { token: await token(newUserId()) }));
    expect(stranger).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
    expect(await refused(TestSocket.open(s.id, { token: "" }))).toMatchObject({ status: 401 });
    expect(await refused(TestSocket.open(s.id, { token: await token(s.userId, { secret: "not-the-secret-0123456789abcdef" }) }))).toMatchObject({
      status: 401,
      body: { message: "invalid token signature" },
    });
    expect(await refused(TestSocket.open(s.id, { token: await token(s.userId, { expiresIn: "-1m" }) }))).toMatchObject({ status: 401 });
    expect(await refused(TestSocket.open("not-a-uuid", { token: s.token }))).toMatchObject({ status: 400 });
    expect(await refused(TestSocket.open(crypto.randomUUID(), { token: s.token }))).toMatchObject({ status: 404 });
    expect(await refused(TestSocket.open(s.id, { token: s.token }, { since: -3 }))).toMatchObject({ status: 400, body: { message: /since/ } });
    const plain = await fetch(`${baseUrl()}/api/sessions/${s.id}/ws?token=${s.token}`);
    expect(plain.status).toBe(426);
  });

  it("pushes renames and resolution, reactivates on a message, and closes sockets when the session ends or expires", async () => {
    const s = await newSession();
    const c = await client(s.userId);
    const sock = await TestSocket.open(s.id, { token: s.token });
    await sock.next("ready");
    await c.sessions.rename.mutate({ sessionId: s.id, title: "Card blocked" });
    expect((await sock.next("session", (f) => f.session.title === "Card blocked")).session).toMatchObject({ id: s.id, status: "active" });
    await c.sessions.resolve.mutate({ sessionId: s.id, notes: "unblocked" });
    expect((await sock.next("session", (f) => f.session.status === "resolved")).session).toMatchObject({ resolutionNotes: "unblocked" });
    // Writing to a resolved session reopens it, for everyone to see.
    sock.send({ type: "send", clientId: "back", content: "it happened again" });
    await sock.next("ack");
    await sock.next("session", (f) => f.session.status === "active");
    expect((await c.sessions.get.query({ sessionId: s.id })).session.status).toBe("active");

    await c.sessions.end.mutate({ sessionId: s.id });
    expect((await sock.next("session", (f) => f.session.status === "ended")).session.endedReason).toBeTruthy();
    expect(await sock.closed).toEqual({ code: 4000, reason: "session ended" });
    // An ended session takes no new sockets.
    await expect(TestSocket.open(s.id, { token: s.token })).rejects.toMatchObject({ status: 409 });

    const e = await newSession();
    const watcher = await TestSocket.open(e.id, { token: e.token });
    await watcher.next("ready");
    await sql().query(`update chat_sessions set expires_at = now() - interval '1 second' where id = $1`, [e.id]);
    await runCron();
    expect((await watcher.next("session", (f) => f.session.status === "expired")).session.id).toBe(e.id);
    expect(await watcher.closed).toEqual({ code: 4001, reason: "session expired" });
  });

  it("keeps sockets and state across hibernation, and answers pings without waking the object", async () => {
    const s = await newSession();
    const a = await TestSocket.open(s.id, { token: s.token });
    const b = await TestSocket.open(s.id, { token: s.token });
    await Promise.all([a.next("ready"), b.next("ready")]);
    a.send({ type: "send", clientId: "h1", content: "before the nap" });
    await a.next("ack");
    // Idle objects hibernate after ~10 s locally; pings are answered by the runtime meanwhile.
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 2_500));
      a.send('{"type":"ping"}');
      await a.until((fs) => fs.filter((f) => f.type === "pong").length === i + 1, 5_000, `pong ${i + 1}`);
    }
    b.send({ type: "send", clientId: "h2", content: "after the nap" });
    expect(await b.next("ack")).toMatchObject({ seq: 2 });
    expect((await a.next("message", (f) => f.message.seq === 2)).message).toMatchObject({ content: "after the nap", userId: s.userId });
    a.send({ type: "send", clientId: "h1", content: "dup" });
    expect(await a.until((fs) => fs.filter((f) => f.type === "ack")[1])).toMatchObject({ seq: 1, duplicate: true });
    await Promise.all([a.close(), b.close()]);
  }, 40_000);
});

describe("the client's session socket", () => {
  it("rejects sends the server refuses with the server's code", async () => {
    const s = await newSession();
    const sock = (await client(s.userId)).connect(s.id);
    const err = await sock.send("x".repeat(9_000)).catch((e) => e);
    expect(err).toBeInstanceOf(ChatSocketError);
    expect(err).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect((await sock.send("fits")).seq).toBe(1);
    sock.close();
    await expect(sock.send("after close")).rejects.toMatchObject({ code: "CLOSED" });
  });

  it("stops, and fails its pending sends, when the session ended while it was away", async () => {
    const s = await newSession();
    const c = await client(s.userId);
    await c.sessions.end.mutate({ sessionId: s.id });
    const sock = c.connect(s.id, { minReconnectDelayMs: 20, maxReconnectDelayMs: 100 });
    const closed = new Promise((resolve) => sock.on("state", (state, detail) => state === "closed" && resolve(detail)));
    const pending = sock.send("anyone?").catch((e) => e);
    expect(await closed).toEqual({ code: 4000, reason: "session ended" });
    expect(await pending).toMatchObject({ code: "CLOSED" });
  });
});
