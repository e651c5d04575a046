// Session lifecycle over REST and tRPC: create, get, rename, end, resolve, resume, limits, idle/expiry.
import { describe, expect, it } from "vitest";
import { api, client, newUserId, runCron, sql, token } from "../helpers";

const HOUR = 3_600_000;

describe("sessions.create", () => {
  it("creates an active session with defaults (REST)", async () => {
    const userId = newUserId();
    const before = Date.now();
    const res = await api("POST", "/sessions", { token: await token(userId), body: { title: "Card blocked", metadata: { channel: "web" } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      userId,
      agentType: "primary",
      title: "Card blocked",
      status: "active",
      messageCount: 0,
      lastSeq: 0,
      metadata: { channel: "web" },
      endedAt: null,
    });
    const ttl = Date.parse(res.body.expiresAt) - before;
    expect(ttl).toBeGreaterThan(168 * HOUR - 60_000);
    expect(ttl).toBeLessThan(168 * HOUR + 60_000);
  });

  it("gives guest sessions 24 hours (tRPC)", async () => {
    const guest = await client(newUserId("guest"), { guest: true });
    const s = await guest.sessions.create.mutate({ agentType: "research" });
    expect(s.agentType).toBe("research");
    const ttl = Date.parse(s.expiresAt) - Date.parse(s.createdAt);
    expect(Math.abs(ttl - 24 * HOUR)).toBeLessThan(60_000);
  });

  it("rejects an agent type outside the configured set, naming the allowed ones", async () => {
    const res = await api("POST", "/sessions", { token: await token(newUserId()), body: { agentType: "pirate" } });
    expect(res.status).toBe(400);
    // The agent types are the AGENTS registry's keys.
    expect(res.body.message).toBe("agentType must be one of: primary, router, research, log_analysis");
  });

  it("ends the oldest open session when a user opens a sixth for one agent type", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push((await api("POST", "/sessions", { token: t, body: { title: `s${i}` } })).body.id);
    }
    // Another agent type has its own allowance.
    const other = await api("POST", "/sessions", { token: t, body: { agentType: "router" } });
    const oldest = await api("GET", `/sessions/${ids[0]}`, { token: t });
    expect(oldest.body.session).toMatchObject({ status: "ended", endedReason: "session_limit_exceeded" });
    const list = await api("GET", `/users/${userId}/sessions?type=unresolved&limit=50`, { token: t });
    expect(list.body.sessions.map((s: { id: string }) => s.id).sort()).toEqual([...ids.slice(1), other.body.id].sort());
  });

  it("keeps the limit when creates race", async () => {
    const userId = newUserId();
    const t = await token(userId);
    await Promise.all(Array.from({ length: 8 }, () => api("POST", "/sessions", { token: t, body: {} })));
    const list = await api("GET", `/users/${userId}/sessions?type=unresolved&limit=50`, { token: t });
    expect(list.body.sessions).toHaveLength(5);
  });
});

describe("session changes", () => {
  it("renames, resolves, and resumes a resolved session with its history", async () => {
    const c = await client(newUserId());
    const s = await c.sessions.create.mutate({});
    await c.messages.send.mutate({ sessionId: s.id, content: "first" });
    expect((await c.sessions.rename.mutate({ sessionId: s.id, title: "Mortgage" })).title).toBe("Mortgage");

    const resolved = await c.sessions.resolve.mutate({ sessionId: s.id, notes: "answered" });
    expect(resolved).toMatchObject({ status: "resolved", resolutionNotes: "answered" });
    expect(resolved.resolvedAt).not.toBeNull();

    const resumed = await c.sessions.resume.mutate({ sessionId: s.id });
    expect(resumed.session.status).toBe("active");
    expect(resumed.messages.map((m) => m.content)).toEqual(["first"]);
    expect(resumed.nextCursor).toBeNull();
  });

  it("resume returns the newest 500 messages and a cursor for longer histories", async () => {
    const userId = newUserId();
    const c = await client(userId);
    const s = await c.sessions.create.mutate({});
    // Bulk-load 520 messages directly; this test is about paging, not the write path.
    await sql().query(
      `insert into chat_messages (session_id, user_id, seq, direction, content)
       select $1, $2, g, 'incoming', 'm' || g from generate_series(1, 520) g`,
      [s.id, userId],
    );
    await sql().query(`update chat_sessions set last_seq = 520, message_count = 520, status = 'idle' where id = $1`, [s.id]);
    const r = await c.sessions.resume.mutate({ sessionId: s.id });
    expect(r.session.status).toBe("active");
    expect(r.messages).toHaveLength(500);
    expect(r.messages[0]!.seq).toBe(21);
    expect(r.messages.at(-1)!.seq).toBe(520);
    expect(r.nextCursor).toBe(21);
    const older = await c.messages.history.query({ sessionId: s.id, before: r.nextCursor!, limit: 200 });
    expect(older.messages.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(older.nextCursor).toBeNull();
  });

  it("ending is a soft delete: kept, readable, hidden from lists, closed to messages", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const { body: s } = await api("POST", "/sessions", { token: t, body: {} });
    const ended = await api("DELETE", `/sessions/${s.id}?reason=customer_left`, { token: t });
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ status: "ended", endedReason: "customer_left" });
    expect(ended.body.endedAt).not.toBeNull();

    expect((await api("GET", `/sessions/${s.id}`, { token: t })).body.session.status).toBe("ended");
    const recent = await api("GET", `/users/${userId}/sessions?type=recent`, { token: t });
    expect(recent.body.sessions).toHaveLength(0);

    const send = await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: "hello?" } });
    expect(send.status).toBe(409);
    expect(send.body.message).toMatch(/ended/);
    expect((await api("POST", `/sessions/${s.id}/resume`, { token: t })).status).toBe(409);
    expect((await api("PATCH", `/sessions/${s.id}`, { token: t, body: { title: "x" } })).status).toBe(409);
    // Ending twice is harmless.
    expect((await api("DELETE", `/sessions/${s.id}`, { token: t })).body.endedReason).toBe("customer_left");
  });

  it("resume refuses an expired session with 409", async () => {
    const c = await client(newUserId());
    const s = await c.sessions.create.mutate({});
    await sql().query(`update chat_sessions set status = 'expired' where id = $1`, [s.id]);
    await expect(c.sessions.resume.mutate({ sessionId: s.id })).rejects.toMatchObject({ data: { code: "CONFLICT", httpStatus: 409 } });
  });
});

describe("the cron sweep", () => {
  it("turns quiet sessions idle, expires overdue ones, and a message wakes an idle session", async () => {
    const userId = newUserId();
    const c = await client(userId);
    const quiet = await c.sessions.create.mutate({});
    const overdue = await c.sessions.create.mutate({});
    await sql().query(`update chat_sessions set last_activity_at = now() - interval '31 minutes' where id = $1`, [quiet.id]);
    await sql().query(`update chat_sessions set expires_at = now() - interval '1 second' where id = $1`, [overdue.id]);
    await runCron();

    expect((await c.sessions.get.query({ sessionId: quiet.id })).session.status).toBe("idle");
    const expired = (await c.sessions.get.query({ sessionId: overdue.id })).session;
    expect(expired).toMatchObject({ status: "expired", endedReason: "expired" });

    const unresolved = await c.sessions.list.query({ userId, type: "unresolved" });
    expect(unresolved.sessions.map((s) => s.id)).toEqual([quiet.id]);
    const recent = await c.sessions.list.query({ userId, type: "recent" });
    expect(recent.sessions.map((s) => s.id).sort()).toEqual([quiet.id, overdue.id].sort());

    await c.messages.send.mutate({ sessionId: quiet.id, content: "still there?" });
    expect((await c.sessions.get.query({ sessionId: quiet.id })).session.status).toBe("active");
    await expect(c.messages.send.mutate({ sessionId: overdue.id, content: "hi" })).rejects.toMatchObject({ data: { code: "CONFLICT" } });
  });
});
