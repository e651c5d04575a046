// Messages: send through the session's Durable Object, idempotency, concurrency, paging, limits.
import { describe, expect, it } from "vitest";
import { api, client, newUserId, reachedPostgres, sql, token } from "../helpers";

async function session(t: string) {
  return (await api("POST", "/sessions", { token: t, body: {} })).body as { id: string };
}

describe("messages.send", () => {
  it("stores a message with the next seq and updates the session (REST)", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const s = await session(t);
    const first = await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: "My card is blocked", metadata: { locale: "en" } } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ sessionId: s.id, seq: 1, userId, direction: "incoming", content: "My card is blocked", messageType: "text", metadata: { locale: "en" }, clientId: null });
    const second = await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: "Please help", messageType: "text" } });
    expect(second.body.seq).toBe(2);
    const got = await api("GET", `/sessions/${s.id}`, { token: t });
    expect(got.body.session).toMatchObject({ messageCount: 2, lastSeq: 2 });
    expect(got.body.messages.map((m: { content: string }) => m.content)).toEqual(["My card is blocked", "Please help"]);
  });

  it("returns the first message for a repeated clientId and stores one row (tRPC)", async () => {
    const c = await client(newUserId());
    const s = await c.sessions.create.mutate({});
    const a = await c.messages.send.mutate({ sessionId: s.id, content: "once", clientId: "c-1" });
    const b = await c.messages.send.mutate({ sessionId: s.id, content: "once (retry)", clientId: "c-1" });
    expect(b).toEqual(a);
    const racing = await Promise.all(Array.from({ length: 10 }, () => c.messages.send.mutate({ sessionId: s.id, content: "race", clientId: "c-2" })));
    expect(new Set(racing.map((m) => m.id)).size).toBe(1);
    await reachedPostgres(s.id, 2);
    const { rows } = await sql().query(`select client_id, count(*)::int as n from chat_messages where session_id = $1 group by client_id order by client_id`, [s.id]);
    expect(rows).toEqual([{ client_id: "c-1", n: 1 }, { client_id: "c-2", n: 1 }]);
  });

  it("gives 50 concurrent sends seq 1..50 with no gap or duplicate", async () => {
    const t = await token(newUserId());
    const s = await session(t);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: `m${i}`, clientId: `k${i}` } })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(results.map((r) => r.body.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await reachedPostgres(s.id, 50);
    const { rows } = await sql().query(`select seq, client_id from chat_messages where session_id = $1 order by seq`, [s.id]);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // Each answer is the row stored for that request.
    for (const r of results) expect(rows[r.body.seq - 1].client_id).toBe(r.body.clientId);
    const { rows: [sess] } = await sql().query(`select last_seq, message_count from chat_sessions where id = $1`, [s.id]);
    expect(sess).toEqual({ last_seq: 50, message_count: 50 });
  });

  it("refuses content over 8 KiB with 413, and empty content with 400, storing nothing", async () => {
    const t = await token(newUserId());
    const s = await session(t);
    const big = await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: "é".repeat(4097) } });
    expect(big.status).toBe(413);
    expect(big.body.message).toMatch(/8194 bytes; the limit is 8192/);
    const empty = await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: "   " } });
    expect(empty.status).toBe(400);
    expect(empty.body.message).toMatch(/content must not be empty/);
    const missing = await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { text: "wrong field" } });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toMatch(/content/);
    const exact = await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: "a".repeat(8192) } });
    expect(exact.status).toBe(200);
    expect(exact.body.seq).toBe(1);
  });

  it("answers 404 for a session that does not exist and 400 for a malformed id", async () => {
    const t = await token(newUserId());
    expect((await api("POST", `/sessions/00000000-0000-4000-8000-000000000000/messages`, { token: t, body: { content: "x" } })).status).toBe(404);
    const bad = await api("POST", `/sessions/not-a-uuid/messages`, { token: t, body: { content: "x" } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/sessionId must be a UUID/);
  });
});

describe("messages.history", () => {
  async function seeded(n: number) {
    const userId = newUserId();
    const c = await client(userId);
    const s = await c.sessions.create.mutate({});
    await sql().query(
      `insert into chat_messages (session_id, user_id, seq, direction, content) select $1, $2, g, 'incoming', 'm' || g from generate_series(1, $3::int) g`,
      [s.id, userId, n],
    );
    await sql().query(`update chat_sessions set last_seq = $2, message_count = $2 where id = $1`, [s.id, n]);
    return { c, s, t: await token(userId) };
  }
  const seqs = (ms: { seq: number }[]) => ms.map((m) => m.seq);
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it("pages backwards from the newest with before", async () => {
    const { c, s } = await seeded(120);
    const p1 = await c.messages.history.query({ sessionId: s.id });
    expect(seqs(p1.messages)).toEqual(range(71, 120));
    const p2 = await c.messages.history.query({ sessionId: s.id, before: p1.nextCursor! });
    expect(seqs(p2.messages)).toEqual(range(21, 70));
    const p3 = await c.messages.history.query({ sessionId: s.id, before: p2.nextCursor! });
    expect(seqs(p3.messages)).toEqual(range(1, 20));
    expect(p3.nextCursor).toBeNull();
  });

  it("pages forwards with after, and by offset for old clients (REST)", async () => {
    const { s, t } = await seeded(75);
    const a1 = await api("GET", `/sessions/${s.id}/history?after=0&limit=30`, { token: t });
    expect(seqs(a1.body.messages)).toEqual(range(1, 30));
    const a2 = await api("GET", `/sessions/${s.id}/history?after=${a1.body.nextCursor}&limit=30`, { token: t });
    const a3 = await api("GET", `/sessions/${s.id}/history?after=${a2.body.nextCursor}&limit=30`, { token: t });
    expect(seqs(a3.body.messages)).toEqual(range(61, 75));
    expect(a3.body.nextCursor).toBeNull();
    const o = await api("GET", `/sessions/${s.id}/history?offset=70&limit=10`, { token: t });
    expect(seqs(o.body.messages)).toEqual(range(71, 75));
    expect(o.body.nextCursor).toBeNull();
    const o2 = await api("GET", `/sessions/${s.id}/history?offset=10&limit=10`, { token: t });
    expect(seqs(o2.body.messages)).toEqual(range(11, 20));
    expect(o2.body.nextCursor).toBe(20);
  });

  it("validates paging parameters", async () => {
    const { s, t } = await seeded(3);
    const tooMany = await api("GET", `/sessions/${s.id}/history?limit=201`, { token: t });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.message).toMatch(/limit/);
    const both = await api("GET", `/sessions/${s.id}/history?before=2&after=1`, { token: t });
    expect(both.status).toBe(400);
    expect(both.body.message).toMatch(/at most one of before, after and offset/);
    expect((await api("GET", `/sessions/${s.id}/history?before=abc`, { token: t })).status).toBe(400);
    expect((await api("GET", `/sessions/${s.id}/history?limit=200`, { token: t })).body.messages).toHaveLength(3);
  });
});
