// The signed-in user, kept in localStorage so a reload stays signed in; a pasted token is read for its user id and role.
import type { Auth } from "./chat-api";

const KEY = "edge-chat:auth";

export function loadAuth(): Auth | null {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? "null") as Partial<Auth> | null;
    if (!saved?.token || !saved.userId) return null;
    const claims = tokenClaims(saved.token);
    // An expired token would only fail every call: sign in again instead.
    if (!claims || (claims.exp !== undefined && claims.exp * 1000 < Date.now())) return null;
    return { token: saved.token, userId: saved.userId, role: saved.role === "admin" ? "admin" : "user" };
  } catch {
    return null;
  }
}

export function saveAuth(auth: Auth | null) {
  if (auth) localStorage.setItem(KEY, JSON.stringify(auth));
  else localStorage.removeItem(KEY);
}

/** The claims of a JWT, unverified (the server verifies; the page only needs to know who it is). */
export function tokenClaims(token: string): { sub?: string; role?: string; exp?: number } | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(payload.length / 4) * 4, "="));
    const claims = JSON.parse(json) as unknown;
    return typeof claims === "object" && claims !== null ? (claims as { sub?: string; role?: string; exp?: number }) : null;
  } catch {
    return null;
  }
}

/** An Auth for a token pasted by hand, or null when it does not look like one. */
export function authFromToken(token: string): Auth | null {
  const claims = tokenClaims(token.trim());
  if (!claims?.sub) return null;
  return { token: token.trim(), userId: claims.sub, role: claims.role === "admin" ? "admin" : "user" };
}
