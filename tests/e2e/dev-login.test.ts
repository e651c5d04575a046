// Development sign-in (POST /api/dev/token): signs usable tokens when DEV_LOGIN is set, and does not exist otherwise.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, dedicatedWorker } from "../helpers";

describe("with DEV_LOGIN (the shared test Worker, as npm start)", () => {
  it("signs a token the API accepts, for the given user", async () => {
    const res = await api("POST", "/api/dev/token", { body: { userId: "dev-login-alice", name: "Alice" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ userId: "dev-login-alice", role: "user" });
    const list = await api("GET", "/api/users/dev-login-alice/sessions", { token: res.body.token });
    expect(list.status).toBe(200);
    // An ordinary user: another user's list is refused, staff procedures too.
    expect((await api("GET", "/api/users/someone-else/sessions", { token: res.body.token })).status).toBe(403);
    expect((await api("GET", "/api/sessions/waiting", { token: res.body.token })).status).toBe(403);
  });

  it("signs an admin when asked, and makes up a user id when none is given", async () => {
    const res = await api("POST", "/api/dev/token", { body: { admin: true } });
    expect(res.status).toBe(200);
    expect(res.body.role).toBe("admin");
    expect(res.body.userId).toMatch(/^dev-[0-9a-f]{8}$/);
    expect((await api("GET", "/api/sessions/waiting", { token: res.body.token })).status).toBe(200);
    // An empty body is "no options" too.
    const bare = await api("POST", "/api/dev/token");
    expect(bare.status).toBe(200);
    expect(bare.body.role).toBe("user");
  });

  it("refuses bad input with a 400 that names the field", async () => {
    const spaced = await api("POST", "/api/dev/token", { body: { userId: "alice smith" } });
    expect(spaced.status).toBe(400);
    expect(spaced.body.message).toMatch(/userId/);
    const notBool = await api("POST", "/api/dev/token", { body: { admin: "yes" } });
    expect(notBool.status).toBe(400);
    expect(notBool.body.message).toMatch(/admin/);
    const extra = await api("POST", "/api/dev/token", { body: { userId: "bob", role: "admin" } });
    expect(extra.status).toBe(400);
    expect(extra.body.message).toMatch(/role/);
    const broken = await api("POST", "/api/dev/token", { rawBody: "{nope", headers: { "content-type": "application/json" } });
    expect(broken.status).toBe(400);
    expect(broken.body.message).toMatch(/not JSON/);
  });
});

describe("without DEV_LOGIN (a Worker as deployed)", () => {
  let worker: Awaited<ReturnType<typeof dedicatedWorker>>;
  beforeAll(async () => {
    worker = await dedicatedWorker();
  });
  afterAll(() => worker?.stop());

  it("answers 404 like any unknown route", async () => {
    const res = await fetch(`${worker.url}/api/dev/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: "mallory", admin: true }),
    });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { code: string; message: string };
    const unknown = (await (await fetch(`${worker.url}/api/dev/nothing-here`, { method: "POST" })).json()) as { code: string };
    expect(body.code).toBe(unknown.code);
    expect(body).not.toHaveProperty("token");
  });
});
