// Bearer-token authentication: HS256 with JWT_SECRET, RS256/ES256 from a JWKS when JWT_JWKS_URL is set.
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Config } from "./config";

export interface User {
  id: string;
  role: "user" | "admin";
  guest: boolean;
}

export class AuthError extends Error {
  override name = "AuthError";
}

/**
 * The token may be fine, but the keys to check it could not be fetched (JWT_JWKS_URL down): the
 * caller should retry (503), not sign in again (401) — a 401 would sign every user out.
 */
export class KeysUnavailableError extends AuthError {
  override name = "KeysUnavailableError";
}

const jwksCache = new Map<string, JWTVerifyGetKey>();

/**
 * A token whose `kid` the cached set lacks makes jose fetch the set again, at most once per
 * cooldown: 5 s rather than jose's 30 s, so tokens signed with a key the issuer has just rotated in
 * are refused for seconds, not half a minute, while a flood of made-up kids still costs the issuer
 * no more than one fetch per 5 s per isolate.
 */
const JWKS_COOLDOWN_MS = 5_000;

function jwks(url: string): JWTVerifyGetKey {
  let getKey = jwksCache.get(url);
  if (!getKey) {
    const set = createRemoteJWKSet(new URL(url), { cooldownDuration: JWKS_COOLDOWN_MS });
    // A set that cannot be fetched (down, timing out, not 200, not a JWKS) says so, instead of the
    // "invalid token" that would send a client to sign in again for no fault of its token.
    getKey = async (header, token) => {
      try {
        return await set(header, token);
      } catch (err) {
        if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
        throw new KeysUnavailableError("the token cannot be verified now: the signing keys (JWT_JWKS_URL) could not be fetched; retry shortly", { cause: err });
      }
    };
    jwksCache.set(url, getKey);
  }
  return getKey;
}

/** Verifies a JWT and maps its claims to a user. Throws AuthError with a client-safe reason. */
export async function verifyToken(token: string, config: Pick<Config, "JWT_SECRET" | "JWT_JWKS_URL">): Promise<User> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw new AuthError("malformed token");
  }
  let payload: JWTPayload;
  try {
    if (alg === "HS256" && config.JWT_SECRET) {
      ({ payload } = await jwtVerify(token, new TextEncoder().encode(config.JWT_SECRET), { algorithms: ["HS256"] }));
    } else if ((alg === "RS256" || alg === "ES256") && config.JWT_JWKS_URL) {
      ({ payload } = await jwtVerify(token, jwks(config.JWT_JWKS_URL), { algorithms: ["RS256", "ES256"] }));
    } else {
      throw new AuthError(`token algorithm ${alg ?? "none"} is not accepted`);
    }
  } catch (err) {
    if (err instanceof AuthError) throw err;
    if (err instanceof errors.JWTExpired) throw new AuthError("token expired", { cause: err });
    if (err instanceof errors.JWTClaimValidationFailed && err.claim === "nbf") throw new AuthError("token is not valid yet (nbf is in the future)", { cause: err });
    if (err instanceof errors.JWKSNoMatchingKey) throw new AuthError("no key at JWT_JWKS_URL matches the token's kid", { cause: err });
    if (err instanceof errors.JWSSignatureVerificationFailed) throw new AuthError("invalid token signature", { cause: err });
    throw new AuthError("invalid token", { cause: err });
  }
  // eslint-disable-next-line no-control-regex
  if (typeof payload.sub !== "string" || !/^[^\u0000-\u001f]{1,200}$/.test(payload.sub)) {
    throw new AuthError("token has no valid sub claim");
  }
  return { id: payload.sub, role: payload.role === "admin" ? "admin" : "user", guest: payload.guest === true };
}

/** Extracts the bearer token from an Authorization header value. */
export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}
