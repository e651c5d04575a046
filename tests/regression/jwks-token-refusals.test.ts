// verifyToken against a JWKS a local server serves (no Worker needed): a key rotated in is taken once
// the 5 s cooldown has passed (jose's default made it 30 s of 401s for freshly signed tokens); a JWKS
// that cannot be fetched, an unknown kid and a token not valid yet each get a reason that says so
// (all three used to be "invalid token").
import { SignJWT, exportJWK, generateKeyPair, type JWK } from "jose";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { verifyToken } from "../../worker/auth";

describe("tokens verified from a JWKS", () => {
  let keys: JWK[] = [];
  let failing = false;
  let fetches = 0;
  const server = createServer((_req, res) => {
    fetches++;
    if (failing) return res.writeHead(503).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
  });
  let base = "";
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  afterEach(() => {
    vi.useRealTimers();
    failing = false;
  });

  async function key(kid: string) {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256" };
    const sign = (claims: { nbf?: number } = {}) => {
      const jwt = new SignJWT({}).setProtectedHeader({ alg: "ES256", kid }).setSubject("alice").setExpirationTime("1h");
      if (claims.nbf) jwt.setNotBefore(claims.nbf);
      return jwt.sign(privateKey);
    };
    return { jwk, sign };
  }

  it("takes a rotated-in key after 5 s, not 30, and then refuses the retired one", async () => {
    // A URL of its own: the Worker caches one key set per URL.
    const config = { JWT_SECRET: "", JWT_JWKS_URL: `${base}/rotation/jwks.json` };
    const [first, second] = await Promise.all([key("k1"), key("k2")]);
    keys = [first.jwk];
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now());
    expect(await verifyToken(await first.sign(), config)).toMatchObject({ id: "alice" });
    keys = [second.jwk];
    const fresh = await second.sign();
    // Within the cooldown the set is not fetched again: refused, with the reason.
    await expect(verifyToken(fresh, config)).rejects.toThrow("no key at JWT_JWKS_URL matches the token's kid");
    vi.setSystemTime(Date.now() + 5_100);
    expect(await verifyToken(fresh, config)).toMatchObject({ id: "alice" });
    await expect(verifyToken(await first.sign(), config)).rejects.toThrow(/kid/);
  });

  it("says the keys could not be fetched when the JWKS fails, and recovers when it is back", async () => {
    const config = { JWT_SECRET: "", JWT_JWKS_URL: `${base}/outage/jwks.json` };
    const k = await key("k3");
    keys = [k.jwk];
    failing = true;
    const before = fetches;
    await expect(verifyToken(await k.sign(), config)).rejects.toThrow("the token cannot be verified now: the signing keys (JWT_JWKS_URL) could not be fetched; retry shortly");
    expect(fetches).toBe(before + 1);
    failing = false;
    expect(await verifyToken(await k.sign(), config)).toMatchObject({ id: "alice" });
  });

  it("says a token is not valid yet when its nbf is in the future", async () => {
    const config = { JWT_SECRET: "", JWT_JWKS_URL: `${base}/nbf/jwks.json` };
    const k = await key("k4");
    keys = [k.jwk];
    await expect(verifyToken(await k.sign({ nbf: Math.floor(Date.now() / 1000) + 3600 }), config)).rejects.toThrow("token is not valid yet (nbf is in the future)");
  });
});
