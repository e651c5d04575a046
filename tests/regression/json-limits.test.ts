// Regression: metadata nested ~1,000 levels was acknowledged and then failed every outbox flush of
// its session (SQLite's JSON limit); ~4,000 levels answered 500 after create had written its row; a
// lone surrogate in metadata is refused by Postgres's jsonb and would have stalled the outbox too.
// Whatever is accepted must be storable; the rest is a clear 4xx before anything is stored.
import { describe, expect, it } from "vitest";
import { TestSocket, api, client, newUserId, reachedPostgres, sql, token } from "../helpers";

/** `{"a":{"a":…{}}}` nested `depth` levels, as JSON text (built without recursion). */
const nestedObject = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${"}".repeat(depth - 1)}`;
/** `{"a":[[…[]]]}`: an object holding arrays, `depth` levels in all. */
const nestedArrays = (depth: number) => `{"a":${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}}`;

async function sessionCount(userId: string) {
  const { rows } = await sql().query(`select count(*)::int as n from chat_sessions where user_id = $1`, [userId]);
  return rows[0].n as number;
}

describe("client JSON limits", () => {
  it("refuses metadata nested past MAX_JSON_DEPTH on every route, storing nothing, and accepts the limit itself", async () => {
    const userId = newUserId();
    const t = await token(userId);
    for (const depth of [17, 1_000, 4_000, 20_000]) {
      for (const metadata of [nestedObject(depth), nestedArrays(depth)]) {
        const create = await api("POST", "/sessions", { token: t, rawBody: `{"metadata":${metadata}}`, headers: { "content-type": "application/json" } });
        expect(create.status, `create at depth ${depth}`).toBe(400);
        expect(create.body.message).toMatch(/metadata is nested more than 16 levels deep/);
      }
    }
    expect(await sessionCount(userId)).toBe(0);

    const s = (await api("POST", "/sessions", { token: t, body: {} })).body as { id: string };
    const sock = await TestSocket.open(s.id, { token: t });
    await sock.next("ready");
    for (const depth of [17, 1_000, 4_000]) {
      const rest = await api("POST", `/sessions/${s.id}/messages`, {
        token: t,
        rawBody: `{"content":"deep","metadata":${nestedObject(depth)}}`,
        headers: { "content-type": "application/json" },
      });
      expect(rest.status, `REST send at depth ${depth}`).toBe(400);
      expect(rest.body.message).toMatch(/metadata is nested more than 16 levels deep/);
      const trpc = await api("POST", "/trpc/messages.send", {
        rawBody: `{"sessionId":"${s.id}","content":"deep","metadata":${nestedArrays(depth)}}`,
        headers: { "content-type": "application/json", authorization: `Bearer ${t}` },
      });
      expect(trpc.status, `tRPC send at depth ${depth}`).toBe(400);
      sock.send(`{"type":"send","clientId":"deep-${depth}","content":"deep","metadata":${nestedObject(depth)}}`);
      const error = await sock.next("error", (f) => f.clientId === `deep-${depth}`);
      expect(error).toMatchObject({ code: "BAD_FRAME" });
      expect(error.message).toMatch(/metadata is nested more than 16 levels deep/);
    }
    expect(sock.of("message")).toEqual([]);

    // At the limit: accepted, and it reaches Postgres as sent.
    const atLimit = JSON.parse(nestedObject(16));
    const ok = await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: "at the limit", metadata: atLimit } });
    expect(ok).toMatchObject({ status: 200, body: { seq: 1 } });
    sock.send({ type: "send", clientId: "ws-ok", content: "at the limit too", metadata: atLimit });
    expect(await sock.next("ack")).toMatchObject({ clientId: "ws-ok", seq: 2 });
    await reachedPostgres(s.id, 2);
    const { rows } = await sql().query(`select seq, metadata from chat_messages where session_id = $1 order by seq`, [s.id]);
    expect(rows).toEqual([
      { seq: 1, metadata: atLimit },
      { seq: 2, metadata: atLimit },
    ]);
    await sock.close();
  });

  it("refuses strings Postgres cannot store (lone surrogates, NUL) and __proto__ keys anywhere in client JSON", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const s = (await api("POST", "/sessions", { token: t, body: {} })).body as { id: string };
    const bodies: [string, RegExp][] = [
      [`{"content":"x","metadata":{"note":"\\ud800"}}`, /metadata.note must be well-formed Unicode/],
      [`{"content":"x","metadata":{"list":["ok","\\udfff"]}}`, /metadata.list\[1\] must be well-formed Unicode/],
      [`{"content":"x","metadata":{"\\ud83d":1}}`, /metadata keys must be well-formed Unicode/],
      [`{"content":"x","metadata":{"a":{"b":"nul\\u0000"}}}`, /metadata.a.b must not contain NUL/],
      [`{"content":"x","metadata":{"__proto__":{"admin":true}}}`, /metadata keys must not be __proto__/],
      [`{"content":"lone \\ud800 surrogate"}`, /well-formed Unicode/],
      [`{"content":"x","clientId":"\\udc00"}`, /well-formed Unicode/],
    ];
    for (const [body, message] of bodies) {
      const res = await api("POST", `/sessions/${s.id}/messages`, { token: t, rawBody: body, headers: { "content-type": "application/json" } });
      expect(res.status, body).toBe(400);
      expect(res.body.message, body).toMatch(message);
    }
    const create = await api("POST", "/sessions", { token: t, rawBody: `{"title":"\\ud800"}`, headers: { "content-type": "application/json" } });
    expect(create.status).toBe(400);

    // A real emoji (a surrogate pair) and other Unicode are fine and round-trip.
    const c = await client(userId);
    const sent = await c.messages.send.mutate({ sessionId: s.id, content: "👍 ok \u2028 \u202e", metadata: { "🔑": "🙂", rtl: "\u202e" } });
    await reachedPostgres(s.id, sent.seq);
    const { rows } = await sql().query(`select content, metadata from chat_messages where session_id = $1`, [s.id]);
    expect(rows).toEqual([{ content: "👍 ok \u2028 \u202e", metadata: { "🔑": "🙂", rtl: "\u202e" } }]);
  });

  it("refuses metadata over MAX_METADATA_BYTES with 413 and a frame over MAX_FRAME_BYTES with PAYLOAD_TOO_LARGE", async () => {
    const t = await token(newUserId());
    const s = (await api("POST", "/sessions", { token: t, body: {} })).body as { id: string };
    const big = await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: "x", metadata: { blob: "x".repeat(9_000) } } });
    expect(big.status).toBe(413);
    expect(big.body.message).toMatch(/metadata is 9011 bytes of JSON; the limit is 8192/);
    const sock = await TestSocket.open(s.id, { token: t });
    await sock.next("ready");
    sock.send({ type: "send", clientId: "huge", content: "x".repeat(70_000) });
    expect(await sock.next("error")).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    await sock.close();
  });
});
