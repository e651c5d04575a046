// Isolation between customers: Alice tries every door on Bob's session (a real one, with messages and a
// turn running) and gets 404 everywhere, however she spells its id; Bob's session is unchanged after
// it; nothing of Bob's shows in Alice's lists, stats, search or socket.
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { OTHER_DOORS, PROCEDURE_DOORS, callProcedure, pool, rest, trpc, type Answer, type Fixture, type ProcedureName } from "../doors";
import { TestSocket, reachedPostgres, token } from "../helpers";

/** A word no other test writes, so search hits can be told apart. */
const word = (prefix: string) => `${prefix}${randomBytes(5).toString("hex")}`;

async function customer(name: string, secretWord: string): Promise<Fixture & { title: string }> {
  const userId = `${name}-${randomBytes(4).toString("hex")}`;
  const t = await token(userId);
  const title = `${name}'s ${secretWord} case`;
  const created = await rest("POST", "/sessions", { title }, t);
  expect(created.status).toBe(200);
  const sessionId = (created.body as { id: string }).id;
  for (const [i, content] of [`my card was declined at the ${secretWord} shop`, `the ${secretWord} charge is not mine`].entries()) {
    expect((await rest("POST", "/sessions/{sessionId}/messages", { sessionId, content, clientId: `c${i}` }, t)).status).toBe(200);
  }
  await reachedPostgres(sessionId, 2);
  return { userId, token: t, sessionId, title };
}

/** Every door that takes a session id, by name, with a call on `sessionId` (spelled as given) for token `t`. */
function sessionDoors(): { name: string; call: (fx: Fixture, t: string) => Promise<Answer> }[] {
  const procedures = (Object.keys(PROCEDURE_DOORS) as ProcedureName[]).filter((name) => PROCEDURE_DOORS[name].expect.other === 404);
  return [
    ...procedures.flatMap((name) => (["trpc", "rest"] as const).map((via) => ({ name: `${name} (${via})`, call: (fx: Fixture, t: string) => callProcedure(name, via, fx, t) }))),
    ...Object.entries(OTHER_DOORS)
      .filter(([, door]) => door.expect.other === 404)
      .map(([name, door]) => ({ name, call: door.call })),
  ];
}

describe("one customer and another's session", () => {
  const aliceWord = word("kiwi");
  const bobWord = word("quokka");
  let alice: Awaited<ReturnType<typeof customer>>;
  let bob: Awaited<ReturnType<typeof customer>>;
  beforeAll(async () => {
    [alice, bob] = await Promise.all([customer("alice", aliceWord), customer("bob", bobWord)]);
  });

  it("every door on Bob's session answers Alice 404, as if it did not exist, in any spelling of its id", async () => {
    const doors = sessionDoors();
    // Read, list, search, export, send, resume, resolve, cancel a turn, connect (both ways), useChat's three routes…
    expect(doors.map((d) => d.name)).toEqual(
      expect.arrayContaining(["sessions.get (rest)", "messages.send (trpc)", "sessions.resume (rest)", "sessions.resolve (trpc)", "turns.cancel (rest)", "messages.search (rest)", "socket bearer.<jwt>", "POST /api/chat", "GET export json"]),
    );
    const spellings = [bob.sessionId, bob.sessionId.toUpperCase()];
    const calls = spellings.flatMap((sessionId) => doors.map((door) => ({ door, fx: { ...bob, sessionId } })));
    const answers = await pool(calls, 6, async ({ door, fx }) => ({ name: `${door.name} on ${fx.sessionId}`, answer: await door.call(fx, alice.token) }));
    for (const { name, answer } of answers) {
      expect(answer.status, `${name}: ${JSON.stringify(answer.body)}`).toBe(404);
      expect(answer.code, name).toBe("NOT_FOUND");
      // Nothing of the session in the refusal.
      expect(JSON.stringify(answer.body), name).not.toContain(bobWord);
    }
    // …and handing it off is for support staff only.
    expect((await callProcedure("sessions.handoff", "rest", bob, alice.token)).status).toBe(403);
  });

  it("leaves Bob's session as it was: same title and status, his two messages only, his turn still running", async () => {
    const got = await rest("GET", "/sessions/{sessionId}", { sessionId: bob.sessionId }, bob.token);
    expect(got.body).toMatchObject({ session: { title: bob.title, status: "active", handler: "agent", messageCount: 2, userId: bob.userId } });
    const history = await rest("GET", "/sessions/{sessionId}/history", { sessionId: bob.sessionId }, bob.token);
    expect((history.body as { messages: { userId: string; seq: number }[] }).messages.map((m) => [m.seq, m.userId])).toEqual([
      [1, bob.userId],
      [2, bob.userId],
    ]);
    const cancelled = await rest("POST", "/sessions/{sessionId}/turns/cancel", { sessionId: bob.sessionId }, bob.token);
    expect(cancelled).toMatchObject({ status: 200, body: { state: "cancelled" } });
  });

  it("shows Alice nothing of Bob's in her lists, stats and search, and refuses her his", async () => {
    for (const type of ["recent", "unresolved", "active"]) {
      const list = await trpc("query", "sessions.list", { userId: alice.userId, type }, alice.token);
      expect((list.body as { result: { data: { sessions: { id: string }[] } } }).result.data.sessions.map((s) => s.id), type).toEqual([alice.sessionId]);
    }
    const stats = await rest("GET", "/users/{userId}/stats", { userId: alice.userId }, alice.token);
    expect(stats.body).toMatchObject({ sessions: { total: 1 }, messages: { total: 2 } });
    expect(await rest("GET", "/users/{userId}/sessions", { userId: bob.userId }, alice.token)).toMatchObject({ status: 403, code: "FORBIDDEN" });
    expect(await rest("GET", "/users/{userId}/stats", { userId: bob.userId }, alice.token)).toMatchObject({ status: 403, code: "FORBIDDEN" });

    const search = async (q: string, t: string) => ((await rest("GET", "/search", { q }, t)).body as { results: { sessionId: string; snippet: string }[] }).results;
    // Bob's word is searchable (Bob and an admin find it), but not by Alice.
    expect((await search(bobWord, bob.token)).map((h) => h.sessionId)).toEqual([bob.sessionId, bob.sessionId]);
    expect((await search(bobWord, await token("staff-iso", { admin: true }))).map((h) => h.sessionId)).toEqual([bob.sessionId, bob.sessionId]);
    expect(await search(bobWord, alice.token)).toEqual([]);
    expect(await search(`${bobWord} or ${aliceWord}`, alice.token).then((hits) => hits.map((h) => h.sessionId))).toEqual([alice.sessionId, alice.sessionId]);
  });

  it("never sends Alice's socket a frame of Bob's session", async () => {
    const aliceSocket = await TestSocket.open(alice.sessionId, { token: alice.token });
    const bobSocket = await TestSocket.open(bob.sessionId, { token: bob.token, via: "protocol" });
    await Promise.all([aliceSocket.next("ready"), bobSocket.next("ready")]);
    bobSocket.send({ type: "typing", isTyping: true });
    bobSocket.send({ type: "send", clientId: "live-1", content: `${bobWord} again` });
    await bobSocket.next("ack", (f) => f.clientId === "live-1");
    // Alice's own message, sent once Bob's was acknowledged: her socket is live and has had every chance to get his.
    expect((await rest("POST", "/sessions/{sessionId}/messages", { sessionId: alice.sessionId, content: "still there?" }, alice.token)).status).toBe(200);
    await aliceSocket.next("message", (f) => f.message.content === "still there?");
    expect(JSON.stringify(aliceSocket.frames)).not.toContain(bobWord);
    expect(aliceSocket.frames.every((f) => f.type !== "message" || f.message.sessionId === alice.sessionId)).toBe(true);
    await Promise.all([aliceSocket.close(), bobSocket.close()]);
  });
});
