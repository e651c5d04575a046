// A device that was offline when its session changed (handed to a person, renamed) must learn of it
// when it reconnects: the session's state comes with every connect. Found by the fault run — a staff
// console whose socket was cut at the moment of a handoff never saw the session waiting for it.
import { describe, expect, it } from "vitest";
import { TestSocket, api, newUserId, token } from "../helpers";

describe("a socket that was away when the session changed", () => {
  it("gets the session as it is now right after ready", async () => {
    const t = await token(newUserId());
    const admin = await token(newUserId("staff"), { admin: true });
    const { body: s } = await api("POST", "/sessions", { token: t, body: { title: "before" } });
    const first = await TestSocket.open(s.id, { token: t }, { since: 0 });
    await first.next("ready");
    await first.close();

    // While nobody is connected: a person takes the session, and the customer renames it elsewhere.
    expect((await api("POST", `/sessions/${s.id}/handoff`, { token: admin, body: { to: "human" } })).status).toBe(200);
    expect((await api("PATCH", `/sessions/${s.id}`, { token: t, body: { title: "after" } })).status).toBe(200);

    const again = await TestSocket.open(s.id, { token: t }, { since: 0 });
    const ready = await again.next("ready");
    const session = await again.next("session");
    expect(again.frames.indexOf(session)).toBeGreaterThan(again.frames.indexOf(ready));
    expect(session.session).toMatchObject({ id: s.id, title: "after", handler: "human" });
    await again.close();
  });
});
