// Auth: bearer tokens (expired, forged, unsigned), isolation between users, the admin role.
import { SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { api, client, newUserId, token } from "../helpers";

describe("authentication", () => {
  it("refuses a request without a token with 401", async () => {
    const res = await api("POST", "/sessions", { body: {} });
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/missing bearer token/);
  });

  it("refuses an expired token", async () => {
    const t = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("someone")
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode((await import("vitest")).inject("jwtSecret")));
    const res = await api("POST", "/sessions", { token: t, body: {} });
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/expired/);
  });

  it("refuses a token signed with another secret", async () => {
    const res = await api("POST", "/sessions", { token: await token("mallory", { secret: "not-the-server-secret-at-all" }), body: {} });
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/signature/);
  });

  it("refuses an unsigned (alg: none) token", async () => {
    const t = new UnsecuredJWT({ role: "admin" }).setSubject("mallory").setExpirationTime("1h").encode();
    const res = await api("GET", "/users/mallory/stats", { token: t });
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/algorithm none/);
  });

  it("refuses garbage and non-Bearer authorization headers", async () => {
    expect((await api("GET", "/users/x/stats", { token: "not.a.jwt" })).status).toBe(401);
    const basic = await api("GET", "/users/x/stats", { headers: { authorization: "Basic dXNlcjpwYXNz" } });
    expect(basic.status).toBe(401);
    expect(basic.body.message).toMatch(/Bearer/);
  });

  it("refuses a token without a subject", async () => {
    const t = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode((await import("vitest")).inject("jwtSecret")));
    expect((await api("POST", "/sessions", { token: t, body: {} })).status).toBe(401);
  });

  it("authenticates tRPC calls the same way", async () => {
    const anon = await client("x", { secret: "wrong-secret-wrong-secret" });
    await expect(anon.sessions.create.mutate({})).rejects.toMatchObject({ data: { code: "UNAUTHORIZED", httpStatus: 401 } });
  });
});

describe("isolation between users", () => {
  it("hides another user's session as if it did not exist, on every route", async () => {
    const alice = await token(newUserId("alice"));
    const bob = await token(newUserId("bob"));
    const { body: s } = await api("POST", "/sessions", { token: alice, body: { title: "alice's" } });
    await api("POST", `/sessions/${s.id}/messages`, { token: alice, body: { content: "secret" } });

    for (const [method, path, body] of [
      ["GET", `/sessions/${s.id}`],
      ["GET", `/sessions/${s.id}/history`],
      ["PATCH", `/sessions/${s.id}`, { title: "pwned" }],
      ["DELETE", `/sessions/${s.id}`],
      ["POST", `/sessions/${s.id}/resume`, {}],
      ["POST", `/sessions/${s.id}/resolve`, {}],
      ["POST", `/sessions/${s.id}/messages`, { content: "hi" }],
    ] as const) {
      const res = await api(method, path, { token: bob, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.message).toContain("not found");
    }
    // Nothing bob did changed alice's session.
    const after = await api("GET", `/sessions/${s.id}`, { token: alice });
    expect(after.body.session).toMatchObject({ title: "alice's", status: "active", messageCount: 1 });

    const bobClient = await client(newUserId("bob"));
    await expect(bobClient.sessions.get.query({ sessionId: s.id })).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });
  });

  it("forbids reading another user's lists and stats", async () => {
    const alice = newUserId("alice");
    const bob = await token(newUserId("bob"));
    expect((await api("GET", `/users/${alice}/sessions`, { token: bob })).status).toBe(403);
    expect((await api("GET", `/users/${alice}/stats`, { token: bob })).status).toBe(403);
  });
});

describe("the admin role", () => {
  it("may read and resolve any session, but not change or write to it", async () => {
    const aliceId = newUserId("alice");
    const alice = await token(aliceId);
    const admin = await token(newUserId("admin"), { admin: true });
    const { body: s } = await api("POST", "/sessions", { token: alice, body: {} });
    await api("POST", `/sessions/${s.id}/messages`, { token: alice, body: { content: "help" } });

    expect((await api("GET", `/sessions/${s.id}`, { token: admin })).body.messages).toHaveLength(1);
    expect((await api("GET", `/sessions/${s.id}/history`, { token: admin })).status).toBe(200);
    expect((await api("GET", `/users/${aliceId}/sessions`, { token: admin })).body.sessions).toHaveLength(1);
    expect((await api("GET", `/users/${aliceId}/stats`, { token: admin })).body.sessions.total).toBe(1);

    const resolved = await api("POST", `/sessions/${s.id}/resolve`, { token: admin, body: { notes: "card unblocked" } });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({ status: "resolved", resolutionNotes: "card unblocked" });

    const rename = await api("PATCH", `/sessions/${s.id}`, { token: admin, body: { title: "x" } });
    expect(rename.status).toBe(403);
    expect((await api("POST", `/sessions/${s.id}/messages`, { token: admin, body: { content: "x" } })).status).toBe(403);
  });
});
