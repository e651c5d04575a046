// Regression: an upper-case session id reached a second Durable Object, which acknowledged a second
// seq 1 that never reached Postgres. Every spelling of an id must reach the one object, or be refused.
import { describe, expect, it } from "vitest";
import { TestSocket, api, client, newUserId, reachedPostgres, sql, token } from "../helpers";

describe("session id spellings", () => {
  it("folds upper and mixed case to the same session on REST, tRPC and the socket", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const s = (await api("POST", "/sessions", { token: t, body: {} })).body as { id: string };
    const upper = s.id.toUpperCase();
    const mixed = s.id.replace(/[a-f]/g, (c, i: number) => (i % 2 ? c.toUpperCase() : c));

    const sock = await TestSocket.open(upper, { token: t });
    expect(await sock.next("ready")).toMatchObject({ sessionId: s.id });

    const a = await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: "lower", clientId: "a" } });
    const b = await api("POST", `/sessions/${upper}/messages`, { token: t, body: { content: "upper", clientId: "b" } });
    const c = await (await client(userId)).messages.send.mutate({ sessionId: mixed, content: "mixed", clientId: "c" });
    // The same clientId under another spelling is the same message, not a new one.
    const again = await api("POST", `/sessions/${upper}/messages`, { token: t, body: { content: "lower", clientId: "a" } });
    expect([a.body.seq, b.body.seq, c.seq, again.body.seq]).toEqual([1, 2, 3, 1]);
    expect([a.body.sessionId, b.body.sessionId, c.sessionId]).toEqual([s.id, s.id, s.id]);

    await sock.until((fs) => fs.filter((f) => f.type === "message").length === 3);
    expect(sock.seqs()).toEqual([1, 2, 3]);
    await reachedPostgres(s.id, 3);
    const { rows } = await sql().query(`select seq, client_id from chat_messages where session_id = $1 order by seq`, [s.id]);
    expect(rows).toEqual([
      { seq: 1, client_id: "a" },
      { seq: 2, client_id: "b" },
      { seq: 3, client_id: "c" },
    ]);
    const history = await api("GET", `/sessions/${upper}/history`, { token: t });
    expect(history.body.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3]);
    await sock.close();
  });

  it("refuses spellings that are not a hyphenated UUID, without reaching any session", async () => {
    const t = await token(newUserId());
    const s = (await api("POST", "/sessions", { token: t, body: {} })).body as { id: string };
    const spellings = [`{${s.id}}`, s.id.replaceAll("-", ""), `urn:uuid:${s.id}`, ` ${s.id}`, `${s.id}%20`, `${s.id}0`];
    for (const id of spellings) {
      const res = await api("POST", `/sessions/${encodeURIComponent(id)}/messages`, { token: t, body: { content: "x" } });
      expect(res.status, id).toBe(400);
      expect(res.body.message).toMatch(/sessionId must be a UUID/);
      await expect(TestSocket.open(encodeURIComponent(id), { token: t })).rejects.toMatchObject({ status: 400 });
    }
    expect((await api("GET", `/sessions/${s.id}`, { token: t })).body.session.lastSeq).toBe(0);
  });
});
