// Regression (found by the fuzz suite): tRPC took a multipart or octet-stream body as "no input" and
// ran the call on its defaults: sessions.create answered 200 with a session of the default agent
// type and no title, the body silently ignored. Every body that is not JSON is now 415.
import { describe, expect, it } from "vitest";
import { api, newUserId, sql, token } from "../helpers";

describe("tRPC request bodies", () => {
  it("refuses a body that is not JSON with 415 and runs nothing", async () => {
    const userId = newUserId();
    const t = await token(userId);
    const body = JSON.stringify({ agentType: "log_analysis", title: "wanted" });
    for (const type of ["application/octet-stream", "multipart/form-data; boundary=x", "text/plain", "application/x-www-form-urlencoded"]) {
      const res = await api("POST", "/trpc/sessions.create", { token: t, rawBody: body, headers: { "content-type": type } });
      expect(res.status, type).toBe(415);
      expect(res.body.error).toMatchObject({ message: "request body must be application/json", data: { code: "UNSUPPORTED_MEDIA_TYPE" } });
    }
    const { rows } = await sql().query(`select count(*)::int as n from chat_sessions where user_id = $1`, [userId]);
    expect(rows[0].n).toBe(0);
    const json = await api("POST", "/trpc/sessions.create", { token: t, rawBody: body, headers: { "content-type": "Application/JSON; charset=utf-8" } });
    expect(json.status).toBe(200);
    expect(json.body.result.data).toMatchObject({ agentType: "log_analysis", title: "wanted" });
  });
});
