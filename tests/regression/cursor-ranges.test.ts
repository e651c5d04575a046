// Regression: history cursors past 2^31 - 1 and crafted list cursors (an id that passes the old
// format check but is no UUID, a date outside Postgres's range) answered 500 from Postgres.
import { describe, expect, it } from "vitest";
import { api, newUserId, token } from "../helpers";

const INT_MAX = 2_147_483_647;

describe("cursor ranges", () => {
  it("refuses history cursors beyond Postgres integers with 400 (REST and tRPC) and accepts the largest one", async () => {
    const t = await token(newUserId());
    const s = (await api("POST", "/sessions", { token: t, body: {} })).body as { id: string };
    await api("POST", `/sessions/${s.id}/messages`, { token: t, body: { content: "one" } });
    for (const param of ["before", "after", "offset"]) {
      for (const value of [String(INT_MAX + 1), "9007199254740993", "1e300"]) {
        const rest = await api("GET", `/sessions/${s.id}/history?${param}=${value}`, { token: t });
        expect(rest.status, `${param}=${value}`).toBe(400);
        expect(rest.body.message).toMatch(new RegExp(param));
      }
      const input = encodeURIComponent(JSON.stringify({ sessionId: s.id, [param]: INT_MAX + 1 }));
      const trpc = await api("GET", `/trpc/messages.history?input=${input}`, { token: t });
      expect(trpc.status).toBe(400);
      const max = await api("GET", `/sessions/${s.id}/history?${param}=${INT_MAX}`, { token: t });
      expect(max.status, `${param}=${INT_MAX}`).toBe(200);
    }
    const before = await api("GET", `/sessions/${s.id}/history?before=${INT_MAX}`, { token: t });
    expect(before.body.messages.map((m: { content: string }) => m.content)).toEqual(["one"]);
  });

  it("refuses crafted list cursors with 400", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const cursor = (text: string) => btoa(text).replace(/=+$/, "");
    const crafted = [
      cursor("2026-01-01T00:00:00.000Z|------------------------------------"),
      cursor("2026-01-01T00:00:00.000Z|zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"),
      cursor("2026-01-01T00:00:00.000Z|0123456789abcdef0123456789abcdef-----"),
      cursor("+275760-09-13T00:00:00.000Z|00000000-0000-4000-8000-000000000000"),
      cursor("-271821-04-20T00:00:00.000Z|00000000-0000-4000-8000-000000000000"),
      cursor("0000-01-01T00:00:00.000Z|00000000-0000-4000-8000-000000000000"),
      cursor("2026-02-30T00:00:00.000Z|00000000-0000-4000-8000-000000000000"),
      cursor("Tue, 01 Jan 2030|00000000-0000-4000-8000-000000000000"),
      "%%%not-base64",
    ];
    for (const c of crafted) {
      const res = await api("GET", `/users/${userId}/sessions?cursor=${encodeURIComponent(c)}`, { token: t });
      expect(res.status, c).toBe(400);
      expect(res.body.message).toMatch(/cursor is not valid/);
    }
    const valid = cursor("2026-01-01T00:00:00.000Z|00000000-0000-4000-8000-000000000000");
    expect((await api("GET", `/users/${userId}/sessions?cursor=${valid}`, { token: t })).status).toBe(200);
  });
});
