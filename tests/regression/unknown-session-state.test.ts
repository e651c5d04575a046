// Regression: every request naming a session that does not exist created a Durable Object with its
// own storage (60 requests left 182 files). A guessed id must not reach any object; an existing
// session whose id this deployment did not issue (imported from another system) still works.
import { randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestSocket, dedicatedWorker, newUserId, reachedPostgres, sql, token } from "../helpers";

type Dedicated = Awaited<ReturnType<typeof dedicatedWorker>>;

describe("requests for sessions that do not exist", () => {
  let worker: Dedicated;
  beforeAll(async () => {
    worker = await dedicatedWorker();
  });
  afterAll(() => worker?.stop());

  const objectFiles = () => {
    try {
      return readdirSync(join(worker.persistTo, "v3", "do", "edge-chat-ChatSession")).filter((f) => !f.startsWith("metadata"));
    } catch {
      return [];
    }
  };

  async function call(method: string, path: string, t: string, body?: unknown) {
    const res = await fetch(`${worker.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${t}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { code: string; message?: string; error?: { message: string } } };
  }

  it("answers 404 on every route and leaves no object storage behind", async () => {
    const t = await token(newUserId());
    // One real session first, so the object storage folder exists and is counted from here.
    const real = await call("POST", "/api/sessions", t, {});
    expect(real.status).toBe(200);
    const before = objectFiles();

    const requests: Promise<number>[] = [];
    for (let i = 0; i < 10; i++) {
      const id = randomUUID();
      requests.push(
        call("GET", `/api/sessions/${id}/history`, t).then((r) => r.status),
        call("GET", `/api/sessions/${id}`, t).then((r) => r.status),
        call("POST", `/api/sessions/${id}/messages`, t, { content: "hello?" }).then((r) => r.status),
        call("POST", `/api/sessions/${id.toUpperCase()}/resume`, t).then((r) => r.status),
        call("GET", `/trpc/messages.history?input=${encodeURIComponent(JSON.stringify({ sessionId: id }))}`, t).then((r) => r.status),
        TestSocket.open(id, { token: t }, { base: worker.url }).then(
          () => 101,
          (err: { status?: number }) => err.status ?? 0,
        ),
      );
    }
    expect(new Set(await Promise.all(requests))).toEqual(new Set([404]));
    expect(objectFiles()).toEqual(before);
  });

  it("still serves a session Postgres has under an id this deployment did not issue", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const id = randomUUID();
    await sql().query(`insert into chat_sessions (id, user_id, agent_type, expires_at) values ($1, $2, 'primary', now() + interval '1 day')`, [id, userId]);
    const sent = await call("POST", `/api/sessions/${id}/messages`, t, { content: "imported session", clientId: "i1" });
    expect(sent).toMatchObject({ status: 200, body: { seq: 1 } });
    const sock = await TestSocket.open(id, { token: t }, { base: worker.url, since: 0 });
    expect((await sock.next("message")).message).toMatchObject({ seq: 1, content: "imported session" });
    await sock.close();
    await reachedPostgres(id, 1);
  });
});
