// Bearer-token authentication: HS256 with JWT_SECRET, RS256/ES256 from a JWKS when JWT_JWKS_URL is set.
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import type { Config } from "./config";

export interface User {
  id: string;
  role: "user" | "admin";
  guest: boolean;
}

export class AuthError extends Error {
  override name = "AuthError";
}

const jwksCache = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

function jwks(url: string) {
  let set = jwksCache.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url));
    jwksCache.set(url, set);
  }
  return set;
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
