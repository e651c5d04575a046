// Regression (found by the fuzz suite): two concurrent `sessions.end` calls on one session — the
// second read "active", lost the race to the first, and answered 409 "cannot end a session that is
// active". Ending is idempotent; a conflict names the status the session has now.
import { describe, expect, it } from "vitest";
import { api, newUserId, token } from "../helpers";

describe("concurrent status changes", () => {
  it("answers every one of many concurrent ends with the ended session", async () => {
    const t = await token(newUserId());
    for (let round = 0; round < 5; round++) {
      const s = (await api("POST", "/sessions", { token: t, body: {} })).body as { id: string };
      const ends = await Promise.all(Array.from({ length: 8 }, () => api("DELETE", `/sessions/${s.id}?reason=done`, { token: t })));
      expect(ends.map((r) => r.status)).toEqual(Array(8).fill(200));
      expect(new Set(ends.map((r) => r.body.status))).toEqual(new Set(["ended"]));
    }
  });

  it("names the status a session has now when a resolve loses to an end", async () => {
    const t = await token(newUserId());
    for (let round = 0; round < 5; round++) {
      const s = (await api("POST", "/sessions", { token: t, body: {} })).body as { id: string };
      const [resolves, end] = await Promise.all([
        Promise.all(Array.from({ length: 4 }, () => api("POST", `/sessions/${s.id}/resolve`, { token: t, body: {} }))),
        api("DELETE", `/sessions/${s.id}`, { token: t }),
      ]);
      expect(end.status).toBe(200);
      for (const r of resolves) {
        if (r.status === 200) expect(r.body.status).toBe("resolved");
        else expect(r.body).toMatchObject({ code: "CONFLICT", message: "cannot resolve a session that is ended" });
      }
    }
  });
});
