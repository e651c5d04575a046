// Regression: the outbox writer puts many sessions' batches in one statement, so one session whose
// rows could never be written (its row gone from Postgres: "violates foreign key constraint") failed
// every session sharing the writer, again and again. Rows Postgres refuses now go aside as dead
// letters, visible to admins; the session's other rows and every other session go on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestSocket, dedicatedWorker, newUserId, reachedPostgres, sql, token } from "../helpers";

type Dedicated = Awaited<ReturnType<typeof dedicatedWorker>>;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("rows Postgres refuses", () => {
  let worker: Dedicated;
  beforeAll(async () => {
    // One writer: every session's batches share its statements.
    worker = await dedicatedWorker({ OUTBOX_WRITERS: "1" });
  });
  afterAll(() => worker?.stop());

  async function call(method: string, path: string, t: string, body?: unknown) {
    const res = await fetch(`${worker.url}/api${path}`, {
      method,
      headers: { authorization: `Bearer ${t}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  const deadLetters = async (sessionId: string) =>
    (await sql().query(`select seq, error from chat_dead_letters where session_id = $1 order by seq`, [sessionId])).rows as { seq: number; error: string }[];

  it("sets aside a session whose row is gone from Postgres, while the sessions sharing its writer keep flowing", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const orphan = (await call("POST", "/sessions", t, {})).body;
    const healthy = await Promise.all(range(1, 3).map(async () => (await call("POST", "/sessions", t, {})).body));
    expect((await call("POST", `/sessions/${orphan.id}/messages`, t, { content: "before the restore" })).body.seq).toBe(1);
    await reachedPostgres(orphan.id, 1);
    // As after a restore from an older backup: the session's object has it, Postgres does not.
    await sql().query(`delete from chat_sessions where id = $1`, [orphan.id]);

    const sock = await TestSocket.open(orphan.id, { token: t }, { base: worker.url });
    await sock.next("ready");
    for (const round of range(1, 3)) {
      for (const i of range(1, 4)) sock.send({ type: "send", clientId: `o${round}-${i}`, content: `orphaned ${round}.${i}` });
      const sent = await Promise.all(healthy.map((s) => call("POST", `/sessions/${s.id}/messages`, t, { content: `healthy ${round}` })));
      expect(sent.map((r) => r.body.seq)).toEqual([round, round, round]);
      // Healthy sessions reach Postgres at the usual pace, round after round.
      await Promise.all(healthy.map((s) => reachedPostgres(s.id, round, 5_000)));
    }
    await sock.until((fs) => fs.filter((f) => f.type === "ack").length === 12);
    await expect.poll(async () => (await deadLetters(orphan.id)).length, { timeout: 10_000 }).toBe(12);
    const letters = await deadLetters(orphan.id);
    expect(letters.map((l) => l.seq)).toEqual(range(2, 13));
    expect(letters[0]!.error).toMatch(/is not in the database/);

    // Admins see them; nobody else does.
    const admin = await token(newUserId("admin"), { admin: true });
    const listed = await call("GET", "/admin/dead-letters?limit=200", admin);
    expect(listed.status).toBe(200);
    const mine = listed.body.deadLetters.filter((d: { sessionId: string }) => d.sessionId === orphan.id);
    expect(mine.map((d: { seq: number }) => d.seq).sort((a: number, b: number) => a - b)).toEqual(range(2, 13));
    expect(JSON.parse(mine[0].payload)).toMatchObject({ seq: expect.any(Number), content: expect.stringMatching(/^orphaned/) });
    expect((await call("GET", "/admin/dead-letters", t)).status).toBe(403);
    await sock.close();
  });

  it("writes a session's other rows when Postgres refuses one, and sets only that one aside", async () => {
    const t = await token(newUserId());
    const s = (await call("POST", "/sessions", t, {})).body;
    const other = (await call("POST", "/sessions", t, {})).body;
    // A constraint of Postgres's own that one row breaks (standing in for any row Postgres refuses).
    const poison = `poison-${s.id}`;
    await sql().query(`alter table chat_messages add constraint "no_${s.id}" check (content <> '${poison}') not valid`);
    try {
      const sock = await TestSocket.open(s.id, { token: t }, { base: worker.url });
      await sock.next("ready");
      for (const i of range(1, 7)) sock.send({ type: "send", clientId: `k${i}`, content: i === 4 ? poison : `fine ${i}` });
      await call("POST", `/sessions/${other.id}/messages`, t, { content: "alongside" });
      await sock.until((fs) => fs.filter((f) => f.type === "ack").length === 7);
      await reachedPostgres(s.id, 7);
      await reachedPostgres(other.id, 1);
      const { rows } = await sql().query(`select seq from chat_messages where session_id = $1 order by seq`, [s.id]);
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 5, 6, 7]);
      const letters = await deadLetters(s.id);
      expect(letters.map((l) => l.seq)).toEqual([4]);
      expect(letters[0]!.error).toMatch(/check constraint/);
      // The session goes on: later messages are written as usual.
      sock.send({ type: "send", clientId: "k8", content: "after" });
      await sock.next("ack", (f) => f.clientId === "k8");
      await reachedPostgres(s.id, 8);
      await sock.close();
    } finally {
      await sql().query(`alter table chat_messages drop constraint "no_${s.id}"`);
    }
  });
});
