// After an outage, sessions' backlogs must not sleep out their backoff once Postgres is back: the
// outbox writer checks Postgres itself and wakes them (a 30-second outage used to take 14–17 s to
// drain). The backoff cap here is a minute, so a drain within seconds can only come from the wake.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestSocket, dedicatedWorker, newUserId, reachedPostgres, sql, token } from "../helpers";

type Dedicated = Awaited<ReturnType<typeof dedicatedWorker>>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Owned {
  id: string;
  token: string;
}

/** A session of a user of its own (a user keeps at most MAX_OPEN_SESSIONS_PER_AGENT open). */
async function createSession(worker: Dedicated): Promise<Owned> {
  const t = await token(newUserId());
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${worker.url}/api/sessions`, { method: "POST", headers: { authorization: `Bearer ${t}`, "content-type": "application/json" }, body: "{}" });
    const text = await res.text();
    if (res.status === 200) return { id: (JSON.parse(text) as { id: string }).id, token: t };
    // Setup only: wrangler's local proxy sometimes answers a loaded machine's request itself with a
    // plain-text 503 "Your worker restarted mid-request" (README, known issues).
    if (attempt < 3 && res.status === 503 && !text.startsWith("{")) continue;
    throw new Error(`sessions.create: ${res.status} ${text}`);
  }
}

/** Sends `n` messages on a socket of each session and waits for their acks. */
async function sendAll(worker: Dedicated, sessions: Owned[], n: number, tag: string) {
  await Promise.all(
    sessions.map(async ({ id, token: t }) => {
      const sock = await TestSocket.open(id, { token: t }, { base: worker.url });
      await sock.next("ready");
      for (let i = 1; i <= n; i++) sock.send({ type: "send", clientId: `${tag}-${i}`, content: `${tag} ${i}` });
      await sock.until((fs) => fs.filter((f) => f.type === "ack").length === n, 20_000, `${n} acks`);
      await sock.close();
    }),
  );
}

async function storedCount(sessions: Owned[]): Promise<number> {
  const { rows } = await sql().query(`select count(*)::int as n from chat_messages where session_id = any($1)`, [sessions.map((s) => s.id)]);
  return rows[0].n;
}

describe("recovery after a Postgres outage", () => {
  let worker: Dedicated;
  beforeAll(async () => {
    worker = await dedicatedWorker({ OUTBOX_MAX_BACKOFF_SECONDS: "60" });
  });
  afterAll(() => worker?.stop());

  it("drains every session's backlog within seconds of Postgres refusing connections and coming back", async () => {
    const sessions = await Promise.all(Array.from({ length: 12 }, () => createSession(worker)));
    worker.proxy.setBlocked(true);
    try {
      await sendAll(worker, sessions, 3, "down");
      // Long enough for each session's backoff to have grown past 8 s (0.25, 0.5, 1, 2, 4, then 8).
      await sleep(6_000);
      // A restart while Postgres is down: the waiting sessions are remembered in storage.
      await worker.kill();
      await worker.restart();
      await sleep(3_000);
      expect(await storedCount(sessions)).toBe(0);
    } catch (err) {
      worker.proxy.setBlocked(false);
      throw err;
    }
    worker.proxy.resetPeak();
    const back = Date.now();
    worker.proxy.setBlocked(false);
    await Promise.all(sessions.map((s) => reachedPostgres(s.id, 3, 5_000)));
    console.log(`12 sessions drained ${Date.now() - back} ms after Postgres came back; at most ${worker.proxy.connections().peak} connections open at once`);
    expect(await storedCount(sessions)).toBe(36);
    // Through the outbox writers: a check and a write each (OUTBOX_WRITERS = 4), not a connection per session.
    expect(worker.proxy.connections().peak).toBeLessThanOrEqual(8);
  }, 60_000);

  it("answers reads with 503 rather than hanging while the path to Postgres is stalled, and drains once it flows", async () => {
    const sessions = await Promise.all(Array.from({ length: 4 }, () => createSession(worker)));
    worker.proxy.setStalled(true);
    try {
      await sendAll(worker, sessions, 2, "stalled");
      const started = Date.now();
      const res = await fetch(`${worker.url}/api/sessions/${sessions[0]!.id}/history`, { headers: { authorization: `Bearer ${sessions[0]!.token}` } });
      expect(res.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(15_000);
      await sleep(9_000);
    } finally {
      worker.proxy.setStalled(false);
    }
    await Promise.all(sessions.map((s) => reachedPostgres(s.id, 2, 8_000)));
    expect(await storedCount(sessions)).toBe(8);
  }, 60_000);
});
