// RS256 and ES256 tokens verified against a JWKS (JWT_JWKS_URL) that a local server of this file
// serves: accepted on every kind of door, a forged or expired one refused, an unknown kid refused, a
// rotated key taken within the cooldown (and the old one refused), and a JWKS that is down, failing or
// hanging answered with a 503 that says so (retry; the token is not at fault), promptly: never a 500,
// never a hang, and never the 401 that would sign every user out.
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import { randomUUID } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callProcedure, rest, socket, type Answer } from "../doors";
import { dedicatedWorker, token } from "../helpers";

type Mode = "up" | "refused" | "error" | "hang";

/** A JWKS endpoint the test controls: which keys it serves, and whether it answers at all. */
async function jwksServer() {
  let keys: JWK[] = [];
  let mode: Mode = "up";
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((_req, res) => {
    fetches++;
    if (mode === "error") return res.writeHead(500, { "content-type": "text/plain" }).end("upstream trouble");
    if (mode === "hang") return void hanging.add(res);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
  });
  let fetches = 0;
  const listen = (port = 0) => new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  const close = () =>
    new Promise<void>((resolve) => {
      for (const res of hanging) res.destroy();
      hanging.clear();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await listen();
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get fetches() {
      return fetches;
    },
    serve(next: JWK[]) {
      keys = next;
    },
    /** "refused" closes the port (connection refused); any other mode listens on it again. */
    async setMode(next: Mode) {
      if (next === "refused" && mode !== "refused") await close();
      if (next !== "refused" && mode === "refused") await listen(port);
      if (next !== "hang") for (const res of hanging) res.destroy();
      mode = next;
    },
    close: () => (mode === "refused" ? Promise.resolve() : close()),
  };
}

interface Key {
  alg: "RS256" | "ES256";
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function newKey(alg: Key["alg"], kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

function sign(key: Pick<Key, "alg" | "kid" | "privateKey">, sub: string, claims: Record<string, unknown> = {}, expiresIn: string | number = "1h") {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid }).setSubject(sub).setIssuedAt().setExpirationTime(expiresIn).sign(key.privateKey);
}

describe("tokens from a JWKS", () => {
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let worker: Awaited<ReturnType<typeof dedicatedWorker>>;
  let rsa: Key;
  let ec: Key;
  const user = `jwks-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    [jwks, rsa, ec] = await Promise.all([jwksServer(), newKey("RS256", "rsa-1"), newKey("ES256", "ec-1")]);
    jwks.serve([rsa.jwk, ec.jwk]);
    worker = await dedicatedWorker({ JWT_JWKS_URL: jwks.url });
  });
  afterAll(async () => {
    await worker?.stop();
    await jwks?.close();
  });

  const create = (t: string) => rest("POST", "/sessions", { title: "via jwks" }, t, worker.url);
  /** The 503 a JWKS that cannot be read must give: it names the keys, not the token. */
  const keysUnavailable = (answer: Answer) => {
    expect(answer.status, JSON.stringify(answer.body)).toBe(503);
    expect(answer.code).toBe("SERVICE_UNAVAILABLE");
    expect(answer.message).toMatch(/signing keys .* could not be fetched; retry/);
  };

  it("a JWKS that refuses connections, answers 500 or hangs: 503 saying the keys could not be fetched, on every kind of door", async () => {
    const t = await sign(rsa, user);
    const hs = await token(user);
    const { body: s } = await create(hs);
    const sessionId = (s as { id: string }).id;
    for (const mode of ["refused", "error"] as const) {
      await jwks.setMode(mode);
      const started = Date.now();
      keysUnavailable(await create(t));
      keysUnavailable(await callProcedure("sessions.get", "trpc", { userId: user, token: t, sessionId }, t, worker.url));
      keysUnavailable(await socket(sessionId, t, "protocol", worker.url));
      expect(Date.now() - started, mode).toBeLessThan(5_000);
      // HS256 tokens do not depend on the JWKS.
      expect((await rest("GET", "/sessions/{sessionId}", { sessionId }, hs, worker.url)).status).toBe(200);
    }
    // A JWKS that never answers is given up on after jose's 5 s timeout: a slow 503, not a hung request.
    await jwks.setMode("hang");
    const started = Date.now();
    keysUnavailable(await create(t));
    expect(Date.now() - started).toBeLessThan(8_000);
    await jwks.setMode("up");
  });

  it("accepts RS256 and ES256 tokens signed by a key it publishes, on the API and the socket", async () => {
    const before = jwks.fetches;
    for (const key of [rsa, ec]) {
      const t = await sign(key, user);
      const created = await create(t);
      expect(created.status, JSON.stringify(created.body)).toBe(200);
      expect(created.body).toMatchObject({ userId: user });
      const id = (created.body as { id: string }).id;
      expect((await callProcedure("sessions.get", "trpc", { userId: user, token: t, sessionId: id }, t, worker.url)).status).toBe(200);
      expect((await socket(id, t, "protocol", worker.url)).status).toBe(101);
      expect((await socket(id, t, "query", worker.url)).status).toBe(101);
    }
    // The set is fetched once and cached, not once per request.
    expect(jwks.fetches - before).toBe(1);
    // role: "admin" from the JWKS issuer is an admin; without it, a user.
    const admin = await sign(ec, `staff-${randomUUID().slice(0, 8)}`, { role: "admin" });
    expect((await rest("GET", "/agents/health", {}, admin, worker.url)).status).toBe(200);
    expect((await rest("GET", "/agents/health", {}, await sign(ec, user), worker.url)).status).toBe(403);
  });

  it("refuses a token signed by another key under a published kid, an expired one, and one without sub", async () => {
    const impostor = await newKey("RS256", "rsa-1");
    const forged = await create(await sign(impostor, user));
    expect(forged).toMatchObject({ status: 401, code: "UNAUTHORIZED", message: "invalid token signature" });
    const expired = await create(await sign(ec, user, {}, Math.floor(Date.now() / 1000) - 60));
    expect(expired).toMatchObject({ status: 401, message: "token expired" });
    const noSub = await new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: ec.kid }).setExpirationTime("1h").sign(ec.privateKey);
    expect(await create(noSub)).toMatchObject({ status: 401, message: "token has no valid sub claim" });
    // An ES256 header on an RS256 key's kid does not verify either.
    expect((await create(await sign({ ...ec, kid: rsa.kid }, user))).status).toBe(401);
  });

  it("refuses an unknown kid, and a flood of them costs the JWKS at most a fetch per cooldown", async () => {
    const strangers = await Promise.all(Array.from({ length: 10 }, (_, i) => newKey("ES256", `unknown-${i}`)));
    const before = jwks.fetches;
    for (const key of strangers) {
      const answer = await create(await sign(key, user));
      expect(answer).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
      expect(answer.message).toMatch(/no key .* matches the token's kid/);
    }
    expect(jwks.fetches - before).toBeLessThanOrEqual(2);
  });

  it("after a rotation, takes the new key within the 5 s cooldown and refuses the old one", async () => {
    const next = await newKey("RS256", "rsa-2");
    const oldToken = await sign(rsa, user);
    expect((await create(oldToken)).status).toBe(200);
    jwks.serve([next.jwk, ec.jwk]);
    const newToken = await sign(next, user);
    const rotated = Date.now();
    await expect.poll(async () => (await create(newToken)).status, { timeout: 8_000, interval: 250 }).toBe(200);
    expect(Date.now() - rotated).toBeLessThan(6_500);
    const old = await create(oldToken);
    expect(old).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
    expect(old.message).toMatch(/kid/);
    // Keys already fetched keep working while the JWKS is down (they are cached for 10 minutes).
    await jwks.setMode("refused");
    expect((await create(newToken)).status).toBe(200);
    await jwks.setMode("up");
  });
});
