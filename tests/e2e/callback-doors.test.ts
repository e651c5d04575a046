// The agents' callback door, past what agents-replies.test.ts covers (a wrong secret, a garbage or
// stale signature, a signed non-callback, a duplicate delivery, unknown and late turns): a body changed
// after signing, a signature replayed under another delivery id or to another agent's URL, a timestamp
// from the future, missing headers, bodies over the limits, a replayed failure report. Each is a 4xx
// that says why, and the turn waiting for the callback is left as it was: the good callback after them
// is the reply. On the shared Worker, whose agents take every turn and never call back themselves.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { callbackUrl as hook, postCallback as post, signCallback as signed } from "../doors";
import { TestSocket, baseUrl, newUserId, reachedPostgres, sql, token, type Frame } from "../helpers";

describe("the agent callback door", () => {
  let socket: TestSocket;
  let sessionId: string;
  let turnId: string;
  let customerMessageId: string;

  const turnFrames = () => socket.of("turn").filter((f) => f.turn.turnId === turnId).map((f) => f.turn as Frame);
  const outgoing = () => socket.of("message").filter((f) => f.message.direction === "outgoing");
  const reply = (output: string, extra: Record<string, unknown> = {}) => ({ turnId, sessionId, output, ...extra });

  beforeAll(async () => {
    const t = await token(newUserId("hooked"));
    const res = await fetch(`${baseUrl()}/api/sessions`, { method: "POST", headers: { authorization: `Bearer ${t}`, "content-type": "application/json" }, body: "{}" });
    sessionId = ((await res.json()) as { id: string }).id;
    socket = await TestSocket.open(sessionId, { token: t });
    await socket.next("ready");
    socket.send({ type: "send", clientId: "q1", content: "where is my refund?" });
    customerMessageId = (await socket.next("ack", (f) => f.clientId === "q1")).id;
    turnId = (await socket.next("turn", (f) => f.turn.parentId === customerMessageId && f.turn.state === "waiting_callback")).turn.turnId;
  });

  it("refuses a tampered, replayed, future-dated or unsigned delivery with 401, and one over the size limits with 413", async () => {
    const good = signed(reply("your refund is on its way"));
    const refusals = {
      // The body changed after signing: another answer, or the same JSON with other bytes.
      "body changed after signing": await post(good, { body: JSON.stringify(reply("send your PIN to this number")) }),
      "body re-serialised after signing": await post(good, { body: JSON.stringify(reply("your refund is on its way"), null, 2) }),
      // A captured signature under a fresh delivery id (to dodge the duplicate check): the id is signed too.
      "signature replayed under another id": await post(good, { id: `msg_${randomUUID()}` }),
      "timestamp 10 minutes ahead": await post(signed(reply("from the future"), { timestamp: new Date(Date.now() + 10 * 60_000) })),
      "no webhook-signature": await post(good, { omit: ["webhook-signature"] }),
      "no webhook-id": await post(good, { omit: ["webhook-id"] }),
      "no webhook-timestamp": await post(good, { omit: ["webhook-timestamp"] }),
    };
    for (const [what, answer] of Object.entries(refusals)) {
      expect(answer, what).toMatchObject({ status: 401, body: { code: "UNAUTHORIZED" } });
      expect((answer.body as { message: string }).message, what).toMatch(/signature does not verify/);
    }
    // Over MAX_BODY_BYTES (256 KiB), correctly signed: refused before it is read.
    const huge = await post(signed(reply("x".repeat(300_000))));
    expect(huge).toMatchObject({ status: 413, body: { code: "PAYLOAD_TOO_LARGE" } });
    // Under the body limit but over the longest reply an agent may give (131,072 characters).
    const long = await post(signed(reply("y".repeat(140_000))));
    expect(long.status, JSON.stringify(long.body).slice(0, 300)).toBe(413);
    expect((long.body as { message: string }).message).toMatch(/131072 characters/);

    // The turn still waits, with nothing stored.
    expect(turnFrames().at(-1)).toMatchObject({ state: "waiting_callback", attempt: 1 });
    expect(outgoing()).toHaveLength(0);
  });

  it("refuses a good delivery sent to another agent type's URL (409: the turn waits for its own agent)", async () => {
    // Every agent of the shared Worker has the same secret, so the signature verifies; the turn is not research's.
    const answer = await post(signed(reply("research says hi")), { url: hook("research") });
    expect(answer).toMatchObject({ status: 409, body: { code: "CONFLICT" } });
    expect(await post(signed(reply("nobody")), { url: hook("no_such_agent") })).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
    expect(turnFrames().at(-1)).toMatchObject({ state: "waiting_callback", attempt: 1 });
    expect(outgoing()).toHaveLength(0);
  });

  it("takes a failure report once: replayed, it is a DUPLICATE and starts no second retry; then the good reply is stored once", async () => {
    const failure = signed({ turnId, sessionId, error: "the refunds system timed out" });
    expect(await post(failure)).toMatchObject({ status: 200, body: { code: "OK" } });
    // The agent is called again (attempt 2) and waits for its callback again.
    await socket.next("turn", (f) => f.turn.turnId === turnId && f.turn.state === "waiting_callback" && f.turn.attempt === 2, 10_000);
    expect(await post(failure)).toMatchObject({ status: 200, body: { code: "DUPLICATE" } });

    const good = signed(reply("your refund is on its way"));
    expect(await post(good)).toMatchObject({ status: 200, body: { code: "OK" } });
    const stored = await socket.next("message", (f) => f.message.direction === "outgoing");
    expect(stored.message).toMatchObject({ content: "your refund is on its way", parentId: customerMessageId, agentInfo: { turnId, attempt: 2 } });
    await socket.next("turn", (f) => f.turn.turnId === turnId && f.turn.state === "done");
    // One failure, one retry: the replayed report did not count.
    expect(turnFrames().filter((t) => t.state === "retry_wait")).toHaveLength(1);
    // The good delivery replayed: acknowledged, not stored again.
    expect(await post(good)).toMatchObject({ status: 200, body: { code: "DUPLICATE" } });
    await reachedPostgres(sessionId, 2);
    const { rows } = await sql().query(`select seq, direction, content from chat_messages where session_id = $1 order by seq`, [sessionId]);
    expect(rows).toEqual([
      { seq: 1, direction: "incoming", content: "where is my refund?" },
      { seq: 2, direction: "outgoing", content: "your refund is on its way" },
    ]);
    expect(outgoing()).toHaveLength(1);
    await socket.close();
  });
});
