// A webhook agent's callback could carry a reply of any length up to the body limit (256 KiB) and it
// was stored whole, past the 131,072 characters a reply in the response may have. Now it is 413 and
// the turn keeps waiting; a reply of exactly the limit is still taken.
import { describe, expect, it } from "vitest";
import { postCallback, signCallback } from "../doors";
import { TestSocket, baseUrl, newUserId, token } from "../helpers";

const MAX_REPLY_CHARS = 131_072;

describe("a callback's reply over 131,072 characters", () => {
  it("is refused with 413 and changes nothing; one of exactly the limit is the reply", async () => {
    const t = await token(newUserId("long"));
    const res = await fetch(`${baseUrl()}/api/sessions`, { method: "POST", headers: { authorization: `Bearer ${t}`, "content-type": "application/json" }, body: "{}" });
    const sessionId = ((await res.json()) as { id: string }).id;
    const socket = await TestSocket.open(sessionId, { token: t });
    await socket.next("ready");
    socket.send({ type: "send", clientId: "q", content: "tell me everything" });
    const ack = await socket.next("ack");
    const turnId = (await socket.next("turn", (f) => f.turn.parentId === ack.id && f.turn.state === "waiting_callback")).turn.turnId;

    const tooLong = await postCallback(signCallback({ turnId, sessionId, output: "a".repeat(MAX_REPLY_CHARS + 1) }));
    expect(tooLong).toMatchObject({ status: 413, body: { code: "PAYLOAD_TOO_LARGE", message: `the reply is ${MAX_REPLY_CHARS + 1} characters; the limit is ${MAX_REPLY_CHARS} characters` } });
    expect(socket.of("turn").filter((f) => f.turn.turnId === turnId).at(-1)!.turn.state).toBe("waiting_callback");

    expect(await postCallback(signCallback({ turnId, sessionId, output: "b".repeat(MAX_REPLY_CHARS) }))).toMatchObject({ status: 200, body: { code: "OK" } });
    const stored = await socket.next("message", (f) => f.message.direction === "outgoing");
    expect(stored.message.content).toHaveLength(MAX_REPLY_CHARS);
    expect(stored.message.content.startsWith("b")).toBe(true);
    await socket.close();
  });
});
