// GET /api/sessions/{id}/export: JSON and Markdown, access as sessions.get, a long session streamed, unflushed messages included.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { api, baseUrl, client, newUserId, reachedPostgres, sql, token } from "../helpers";

type Exported = { session: { id: string; title: string | null; lastSeq: number; userId: string }; messages: { seq: number; content: string; direction: string }[] };

describe("sessions.export", () => {
  it("exports a session as one JSON document and as Markdown, as a download", async () => {
    const userId = newUserId();
    const c = await client(userId);
    const s = await c.sessions.create.mutate({ title: "Card *blocked*" });
    const contents = ["My card was declined", "Two lines:\n# not a heading\n\n---", 'Quotes " and <tags> & \\ stay'];
    for (const content of contents) await c.messages.send.mutate({ sessionId: s.id, content });
    await reachedPostgres(s.id, 3);
    const t = await token(userId);

    const json = await api("GET", `/sessions/${s.id}/export`, { token: t });
    expect(json.status).toBe(200);
    expect(json.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(json.headers.get("content-disposition")).toBe(`attachment; filename="session-${s.id}.json"`);
    const doc = json.body as Exported;
    expect(doc.session).toMatchObject({ id: s.id, title: "Card *blocked*", userId, lastSeq: 3 });
    expect(doc.messages.map((m) => [m.seq, m.content, m.direction])).toEqual(contents.map((content, i) => [i + 1, content, "incoming"]));
    // The same messages as the history, field for field.
    const history = await c.messages.history.query({ sessionId: s.id });
    expect(doc.messages).toEqual(history.messages);

    const md = await api("GET", `/sessions/${s.id}/export?format=markdown`, { token: t });
    expect(md.status).toBe(200);
    expect(md.headers.get("content-type")).toBe("text/markdown; charset=utf-8");
    expect(md.headers.get("content-disposition")).toBe(`attachment; filename="session-${s.id}.md"`);
    const text = md.body as string;
    expect(text.startsWith("# Card \\*blocked\\*\n")).toBe(true);
    expect(text).toContain(`- Session: \`${s.id}\``);
    expect(text).toContain("- Messages: 3");
    const created = doc.messages.map((m) => (m as unknown as { createdAt: string }).createdAt);
    expect(text).toContain(`**customer (${userId.replace(/[_*]/g, "\\$&")})** (${created[0]}, #1)\n\n> My card was declined\n`);
    // Content is quoted line by line, so its own "#" and "---" stay inside the quote.
    expect(text).toContain(`(${created[1]}, #2)\n\n> Two lines:\n> # not a heading\n>\n> ---\n`);
    expect(text).toContain('> Quotes " and <tags> & \\ stay\n');
  });

  it("answers like sessions.get for others' and unknown sessions, and says what is wrong with a bad request", async () => {
    const owner = newUserId();
    const c = await client(owner);
    const s = await c.sessions.create.mutate({});
    await c.messages.send.mutate({ sessionId: s.id, content: "hello" });
    const other = await token(newUserId());

    const theirs = await api("GET", `/sessions/${s.id}/export`, { token: other });
    const asGet = await api("GET", `/sessions/${s.id}`, { token: other });
    expect(theirs.status).toBe(404);
    expect(theirs.body).toEqual(asGet.body);
    const unknownId = randomUUID();
    const unknown = await api("GET", `/sessions/${unknownId}/export`, { token: other });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual((await api("GET", `/sessions/${unknownId}`, { token: other })).body);

    const admin = await api("GET", `/sessions/${s.id}/export?format=markdown`, { token: await token(newUserId("staff"), { admin: true }) });
    expect(admin.status).toBe(200);
    expect(admin.body).toContain("> hello");

    const t = await token(owner);
    const bad = await api("GET", `/sessions/${s.id}/export?format=xml`, { token: t });
    expect(bad).toMatchObject({ status: 400, body: { code: "BAD_REQUEST" } });
    expect(bad.body.message).toContain("format must be json or markdown");
    const badId = await api("GET", `/sessions/not-a-session/export`, { token: t });
    expect(badId).toMatchObject({ status: 400, body: { code: "BAD_REQUEST" } });
    expect(badId.body.message).toContain("sessionId must be a UUID");
    expect((await api("GET", `/sessions/${s.id}/export`)).status).toBe(401);
    // Upper case reaches the same session, as everywhere.
    const upper = await api("GET", `/sessions/${s.id.toUpperCase()}/export`, { token: t });
    expect(upper.status).toBe(200);
    expect((upper.body as Exported).session.id).toBe(s.id);
  });

  it("streams a 10,000-message session: the first bytes come before the rest is read, every message in seq order", async () => {
    const userId = newUserId();
    const c = await client(userId);
    const s = await c.sessions.create.mutate({ title: "long" });
    const n = 10_000;
    // Seeded straight into Postgres in one statement (sending 10,000 messages would take minutes).
    await sql().query(
      `insert into chat_messages (session_id, user_id, seq, direction, content, created_at)
       select $1, $2, g, case when g % 2 = 0 then 'outgoing' else 'incoming' end, 'message number ' || g || ' ' || repeat('x', 200),
              now() - interval '1 day' + g * interval '1 ms'
       from generate_series(1, $3::int) g`,
      [s.id, userId, n],
    );
    await sql().query(`update chat_sessions set last_seq = $2, message_count = $2 where id = $1`, [s.id, n]);

    const started = performance.now();
    const res = await fetch(`${baseUrl()}/api/sessions/${s.id}/export`, { headers: { authorization: `Bearer ${await token(userId)}` } });
    expect(res.status).toBe(200);
    // Streamed: no length known up front.
    expect(res.headers.get("content-length")).toBeNull();
    const reader = res.body!.getReader();
    const chunks: Uint8Array[] = [];
    let firstAt = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (chunks.length === 0) firstAt = performance.now() - started;
      chunks.push(value);
    }
    const doneAt = performance.now() - started;
    const body = Buffer.concat(chunks).toString("utf8");
    console.log(`export of ${n} messages: ${(body.length / 1e6).toFixed(1)} MB in ${chunks.length} chunks, first after ${firstAt.toFixed(0)} ms, all after ${doneAt.toFixed(0)} ms`);
    expect(chunks.length).toBeGreaterThan(1);
    // The head went out before the pages were read: it arrived well before the end.
    expect(firstAt).toBeLessThan(doneAt / 2);
    const doc = JSON.parse(body) as Exported;
    expect(doc.session).toMatchObject({ id: s.id, lastSeq: n });
    expect(doc.messages).toHaveLength(n);
    expect(doc.messages.every((m, i) => m.seq === i + 1)).toBe(true);
    expect(doc.messages[n - 1]!.content.startsWith(`message number ${n} `)).toBe(true);
  }, 60_000);

  it("includes messages acknowledged moments ago that have not reached Postgres", async () => {
    const userId = newUserId();
    const c = await client(userId);
    const s = await c.sessions.create.mutate({});
    await c.messages.send.mutate({ sessionId: s.id, content: "flushed" });
    await reachedPostgres(s.id, 1);
    // Hold the session's row: the outbox's write of the next messages waits on it, so they stay unflushed.
    const lock = await sql().connect();
    try {
      await lock.query("begin");
      await lock.query("select id from chat_sessions where id = $1 for update", [s.id]);
      for (const content of ["just now 1", "just now 2"]) await c.messages.send.mutate({ sessionId: s.id, content });
      const t = await token(userId);
      const json = await api("GET", `/sessions/${s.id}/export`, { token: t });
      const md = await api("GET", `/sessions/${s.id}/export?format=markdown`, { token: t });
      const { rows } = await sql().query(`select max(seq)::int as max from chat_messages where session_id = $1`, [s.id]);
      expect(rows[0].max).toBe(1);
      expect(json.status).toBe(200);
      const doc = json.body as Exported;
      expect(doc.messages.map((m) => [m.seq, m.content])).toEqual([[1, "flushed"], [2, "just now 1"], [3, "just now 2"]]);
      expect(doc.session.lastSeq).toBe(3);
      expect(md.body).toContain("#3)\n\n> just now 2\n");
    } finally {
      await lock.query("rollback");
      lock.release();
    }
    await reachedPostgres(s.id, 3);
  });
});
