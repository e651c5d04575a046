// Lists and stats: active / unresolved / recent, last-message previews, cursor paging, per-user stats.
import { describe, expect, it } from "vitest";
import { client, newUserId, reachedPostgres, sql } from "../helpers";

describe("sessions.list", () => {
  it("lists by type, newest activity first, with a preview of the last message", async () => {
    const userId = newUserId();
    const c = await client(userId);
    const a = await c.sessions.create.mutate({ title: "a" });
    const b = await c.sessions.create.mutate({ title: "b" });
    const r = await c.sessions.create.mutate({ title: "r" });
    const e = await c.sessions.create.mutate({ title: "e" });
    await c.messages.send.mutate({ sessionId: a.id, content: "x".repeat(300) });
    await c.sessions.resolve.mutate({ sessionId: r.id });
    await c.sessions.end.mutate({ sessionId: e.id });
    await sql().query(`update chat_sessions set status = 'idle' where id = $1`, [b.id]);
    // Lists come from Postgres alone and may trail an ack by the outbox lag (README).
    await reachedPostgres(a.id, 1);

    const active = await c.sessions.list.query({ userId, type: "active" });
    expect(active.sessions.map((s) => s.title)).toEqual(["a"]);
    expect(active.sessions[0]!.lastMessage).toMatchObject({ seq: 1, direction: "incoming", content: "x".repeat(200) });

    const unresolved = await c.sessions.list.query({ userId, type: "unresolved" });
    expect(unresolved.sessions.map((s) => s.title).sort()).toEqual(["a", "b"]);
    expect(unresolved.sessions.find((s) => s.title === "b")!.lastMessage).toBeNull();

    const recent = await c.sessions.list.query({ userId });
    expect(recent.sessions.map((s) => s.title).sort()).toEqual(["a", "b", "r"]);
    // Newest activity first.
    const times = recent.sessions.map((s) => Date.parse(s.lastActivityAt));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
  });

  it("pages with a cursor without repeating or skipping", async () => {
    const userId = newUserId();
    const c = await client(userId);
    const ids: string[] = [];
    for (const agentType of ["primary", "research", "router", "log_analysis"]) {
      for (let i = 0; i < 3; i++) ids.push((await c.sessions.create.mutate({ agentType })).id);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await c.sessions.list.query({ userId, type: "recent", limit: 5, cursor });
      seen.push(...page.sessions.map((s) => s.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(ids.sort());
    await expect(c.sessions.list.query({ userId, cursor: "bogus" })).rejects.toMatchObject({ data: { code: "BAD_REQUEST" } });
  });
});

describe("users.stats", () => {
  it("counts sessions by status and agent type, and messages by direction", async () => {
    const userId = newUserId();
    const c = await client(userId);
    const a = await c.sessions.create.mutate({});
    const b = await c.sessions.create.mutate({ agentType: "research" });
    await c.messages.send.mutate({ sessionId: a.id, content: "1" });
    await c.messages.send.mutate({ sessionId: a.id, content: "2" });
    await c.messages.send.mutate({ sessionId: b.id, content: "3" });
    await c.sessions.resolve.mutate({ sessionId: b.id });
    await Promise.all([reachedPostgres(a.id, 2), reachedPostgres(b.id, 1)]);
    const stats = await c.users.stats.query({ userId });
    expect(stats).toEqual({
      userId,
      sessions: {
        total: 2,
        byStatus: { active: 1, idle: 0, resolved: 1, ended: 0, expired: 0 },
        byAgentType: { primary: 1, research: 1 },
      },
      messages: { total: 3, byDirection: { incoming: 3, outgoing: 0, system: 0 }, byAgentType: { primary: 2, research: 1 } },
    });
  });
});
