// What users must never see: an acknowledged message lost (database outage, a killed Worker), or a
// limit that admits more than it says. Each block runs a Worker of its own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import ws from "ws";
import { createChatClient, type Message } from "../../client";
import { TestSocket, dedicatedWorker, newUserId, reachedPostgres, sql, token } from "../helpers";

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
type Dedicated = Awaited<ReturnType<typeof dedicatedWorker>>;

async function call(worker: Dedicated, method: string, path: string, t: string, body?: unknown) {
  const res = await fetch(`${worker.url}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${t}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

async function rowsOf(sessionId: string) {
  const { rows } = await sql().query(`select seq, client_id, content from chat_messages where session_id = $1 order by seq`, [sessionId]);
  return rows as { seq: number; client_id: string | null; content: string }[];
}

describe("when Postgres is unreachable", () => {
  let worker: Dedicated;
  beforeAll(async () => {
    worker = await dedicatedWorker({ OUTBOX_MAX_BACKOFF_SECONDS: "1" });
  });
  afterAll(() => worker?.stop());

  it("keeps accepting, acknowledging and delivering; afterwards Postgres holds every acked message once", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const s = (await call(worker, "POST", "/sessions", t, {})).body;
    const sender = await TestSocket.open(s.id, { token: t }, { base: worker.url });
    const watcher = await TestSocket.open(s.id, { token: t }, { base: worker.url });
    await Promise.all([sender.next("ready"), watcher.next("ready")]);

    worker.proxy.setBlocked(true);
    for (const i of range(1, 30)) sender.send({ type: "send", clientId: `o${i}`, content: `during the outage ${i}` });
    const acks = await sender.until((fs) => fs.filter((f) => f.type === "ack").length === 30 && fs.filter((f) => f.type === "ack"));
    expect(acks.map((a) => a.seq)).toEqual(range(1, 30));
    const viaHttp = await call(worker, "POST", `/sessions/${s.id}/messages`, t, { content: "over HTTP", clientId: "h1" });
    expect(viaHttp).toMatchObject({ status: 200, body: { seq: 31 } });
    // Retried after a lost answer: still one message.
    expect((await call(worker, "POST", `/sessions/${s.id}/messages`, t, { content: "over HTTP", clientId: "h1" })).body.seq).toBe(31);
    await watcher.until((fs) => fs.filter((f) => f.type === "message").length === 31);
    expect(watcher.seqs()).toEqual(range(1, 31));
    // Reads that need Postgres say so plainly.
    const history = await call(worker, "GET", `/sessions/${s.id}/history`, t);
    expect(history).toMatchObject({ status: 503, body: { code: "SERVICE_UNAVAILABLE" } });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await rowsOf(s.id)).toEqual([]);

    const back = Date.now();
    worker.proxy.setBlocked(false);
    await reachedPostgres(s.id, 31);
    console.log(`outbox drained ${Date.now() - back} ms after Postgres came back`);
    const rows = await rowsOf(s.id);
    expect(rows.map((r) => r.seq)).toEqual(range(1, 31));
    expect(rows.map((r) => r.client_id)).toEqual([...range(1, 30).map((i) => `o${i}`), "h1"]);
    const { rows: [row] } = await sql().query(`select last_seq, message_count from chat_sessions where id = $1`, [s.id]);
    expect(row).toEqual({ last_seq: 31, message_count: 31 });
    const page = await call(worker, "GET", `/sessions/${s.id}/history?limit=200`, t);
    expect(page.body.messages.map((m: Message) => m.seq)).toEqual(range(1, 31));
    await Promise.all([sender.close(), watcher.close()]);
  });

  it("gets acknowledged messages to Postgres after the Worker is killed with them still in the outbox", async () => {
    const t = await token(newUserId());
    const s = (await call(worker, "POST", "/sessions", t, {})).body;
    const sock = await TestSocket.open(s.id, { token: t }, { base: worker.url });
    await sock.next("ready");
    worker.proxy.setBlocked(true);
    for (const i of range(1, 5)) sock.send({ type: "send", clientId: `k${i}`, content: `unflushed ${i}` });
    await sock.until((fs) => fs.filter((f) => f.type === "ack").length === 5);

    await worker.kill();
    worker.proxy.setBlocked(false);
    await worker.restart();
    // Nobody touches the session: the object's alarm survives the restart and drains the outbox.
    await reachedPostgres(s.id, 5, 20_000);
    expect((await rowsOf(s.id)).map((r) => `${r.seq}:${r.client_id}`)).toEqual(range(1, 5).map((i) => `${i}:k${i}`));
  });

  it("lets the client's socket ride out a restart: queued sends go once, nothing missed or doubled", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const s = (await call(worker, "POST", "/sessions", t, {})).body;
    const seen: number[] = [];
    const sock = createChatClient({ url: worker.url, getToken: () => t, WebSocket: ws }).connect(s.id, { since: 0, minReconnectDelayMs: 100, maxReconnectDelayMs: 500 });
    sock.on("message", (m) => seen.push(m.seq));
    expect((await sock.send("before", { clientId: "b1" })).seq).toBe(1);

    await worker.kill();
    const queued = [sock.send("while down 1"), sock.send("while down 2")];
    // Another device writes while this one is away.
    await worker.restart();
    expect((await call(worker, "POST", `/sessions/${s.id}/messages`, t, { content: "from elsewhere" })).status).toBe(200);
    const acks = await Promise.all(queued);
    expect(acks.map((a) => a.seq).sort()).toEqual(acks.map((a) => a.seq));
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(4);
    expect(seen).toEqual([1, 2, 3, 4]);
    sock.close();
    await reachedPostgres(s.id, 4);
    expect((await rowsOf(s.id)).map((r) => r.content).sort()).toEqual(["before", "from elsewhere", "while down 1", "while down 2"]);
  }, 40_000);
});

describe("limits", () => {
  let worker: Dedicated;
  beforeAll(async () => {
    worker = await dedicatedWorker({
      MESSAGE_RATE_PER_MINUTE: "60",
      MESSAGE_BURST: "10",
      SESSION_CREATE_LIMIT: "3",
      SESSION_CREATE_WINDOW_SECONDS: "300",
      HTTP_RATE_LIMIT: "40",
      HTTP_RATE_WINDOW_SECONDS: "900",
    });
  });
  afterAll(() => worker?.stop());

  it("admits exactly the burst and then one message a second, and counts HTTP requests and session creation exactly", async () => {
    const userId = newUserId();
    const t = await token(userId);
    // Session creation: 3 per 5 minutes per user.
    const created = [];
    for (const i of range(1, 4)) created.push(await call(worker, "POST", "/sessions", t, { title: `s${i}` }));
    expect(created.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(created[3]!.body).toMatchObject({ code: "TOO_MANY_REQUESTS" });
    expect(Number(created[3]!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(created[3]!.headers.get("retry-after"))).toBeLessThanOrEqual(100);
    const s = created[0]!.body;

    // A burst of 200 sends at 60/min with a burst of 10.
    const sock = await TestSocket.open(s.id, { token: t }, { base: worker.url });
    await sock.next("ready");
    const started = Date.now();
    for (const i of range(1, 200)) sock.send({ type: "send", clientId: `r${i}`, content: `burst ${i}` });
    const answers = await sock.until((fs) => {
      const a = fs.filter((f) => f.type === "ack" || f.type === "error");
      return a.length === 200 && a;
    });
    const elapsed = Date.now() - started;
    const acked = answers.filter((f) => f.type === "ack");
    const refused = answers.filter((f) => f.type === "error");
    expect(acked.length).toBeGreaterThanOrEqual(10);
    expect(acked.length).toBeLessThanOrEqual(10 + Math.floor(elapsed / 1000));
    expect(acked.slice(0, 10).map((a) => a.clientId)).toEqual(range(1, 10).map((i) => `r${i}`));
    for (const e of refused) {
      expect(e).toMatchObject({ code: "RATE_LIMITED", clientId: expect.stringMatching(/^r\d+$/) });
      expect(e.retryAfterMs).toBeGreaterThan(0);
      expect(e.retryAfterMs).toBeLessThanOrEqual(1000);
    }
    // After the advertised wait exactly one more fits.
    await new Promise((r) => setTimeout(r, refused.at(-1)!.retryAfterMs + 20));
    const sentAt = Date.now();
    sock.send({ type: "send", clientId: "late-1", content: "after waiting" });
    sock.send({ type: "send", clientId: "late-2", content: "too soon" });
    expect(await sock.next("ack", (f) => f.clientId === "late-1")).toMatchObject({ seq: acked.length + 1 });
    const tooSoon = await sock.next("error", (f) => f.clientId === "late-2");
    // A second less the time between the two frames' handling, which is at most the round trip
    // (on a loaded machine the two frames may be handled hundreds of milliseconds apart).
    expect(tooSoon.retryAfterMs).toBeGreaterThanOrEqual(1000 - (Date.now() - sentAt) - 5);
    // Over HTTP: 429 with Retry-After, and nothing stored.
    const http = await call(worker, "POST", `/sessions/${s.id}/messages`, t, { content: "http too soon" });
    expect(http.status).toBe(429);
    expect(http.headers.get("retry-after")).toBe("1");
    expect(http.body).toMatchObject({ code: "TOO_MANY_REQUESTS", message: /rate limit/ });
    await sock.close();
    await reachedPostgres(s.id, acked.length + 1);
    expect((await rowsOf(s.id)).length).toBe(acked.length + 1);

    // Per-IP budget: 40 requests per 15 minutes. So far: 4 creates, 1 upgrade, 1 send = 6.
    let admitted = 0;
    let limited: Response | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const res = await fetch(`${worker.url}/api/users/${userId}/stats`, { headers: { authorization: `Bearer ${t}` } });
      if (res.status === 429) {
        limited = res;
        expect(await res.json()).toMatchObject({ code: "TOO_MANY_REQUESTS" });
      } else {
        admitted++;
        await res.arrayBuffer();
      }
    }
    expect(admitted).toBe(34);
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThan(0);
  }, 40_000);
});

describe("idle detection", () => {
  let worker: Dedicated;
  beforeAll(async () => {
    worker = await dedicatedWorker({ SESSION_IDLE_MINUTES: "0.05" });
  });
  afterAll(() => worker?.stop());

  it("turns a quiet session idle from the object's alarm, and a message makes it active again", async () => {
    // SESSION_IDLE_MINUTES is 0.05 (3 s) on this Worker.
    const t = await token(newUserId());
    const s = (await call(worker, "POST", "/sessions", t, {})).body;
    const sock = await TestSocket.open(s.id, { token: t }, { base: worker.url });
    await sock.next("ready");
    sock.send({ type: "send", clientId: "i1", content: "hello" });
    const ack = await sock.next("ack");
    const idle = await sock.next("session", (f) => f.session.status === "idle", 10_000);
    expect(Date.parse(idle.session.updatedAt) - Date.parse(ack.createdAt)).toBeGreaterThanOrEqual(3_000);
    await expect.poll(async () => (await sql().query(`select status from chat_sessions where id = $1`, [s.id])).rows[0].status, { timeout: 5_000 }).toBe("idle");
    expect((await call(worker, "GET", `/sessions/${s.id}`, t)).body.session.status).toBe("idle");

    sock.send({ type: "send", clientId: "i2", content: "still there?" });
    await sock.next("session", (f) => f.session.status === "active");
    expect((await call(worker, "GET", `/sessions/${s.id}`, t)).body.session).toMatchObject({ status: "active", lastSeq: 2 });
    await expect.poll(async () => (await sql().query(`select status from chat_sessions where id = $1`, [s.id])).rows[0].status, { timeout: 5_000 }).toBe("active");

    // Quiet again, then resumed: resuming restarts the idle clock rather than idling at once.
    const idleCount = () => sock.of("session").filter((f) => f.session.status === "idle").length;
    await sock.until(() => idleCount() === 2, 10_000, "the second idle");
    expect((await call(worker, "POST", `/sessions/${s.id}/resume`, t)).body.session.status).toBe("active");
    await sock.next("session", (f) => f.session.status === "active" && sock.frames.indexOf(f) > sock.frames.lastIndexOf(sock.of("session").filter((g) => g.session.status === "idle")[1]!));
    await new Promise((r) => setTimeout(r, 2_000));
    expect(idleCount()).toBe(2);
    expect((await call(worker, "GET", `/sessions/${s.id}`, t)).body.session.status).toBe("active");
    expect((await sql().query(`select status from chat_sessions where id = $1`, [s.id])).rows[0].status).toBe("active");
    await sock.close();
  }, 40_000);
});
