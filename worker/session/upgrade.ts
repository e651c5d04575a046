// Reads a socket upgrade the Worker forwarded (pure): the caller it authenticated and the replay point.
import type { Attachment } from "./contract";

export type Upgrade = { ok: true; sessionId: string; caller: Attachment; since: number | null; protocol: string | null } | { ok: false; status: 400; code: "BAD_REQUEST"; message: string };

/** The caller's identity arrives in headers the Worker sets (it strips any the client sent). */
export function readUpgrade(request: Request): Upgrade {
  const sinceParam = new URL(request.url).searchParams.get("since");
  const since = sinceParam === null ? null : Number(sinceParam);
  if (since !== null && (!Number.isInteger(since) || since < 0)) {
    return { ok: false, status: 400, code: "BAD_REQUEST", message: "since must be a non-negative integer seq" };
  }
  return {
    ok: true,
    sessionId: request.headers.get("x-session-id") ?? "",
    caller: {
      userId: request.headers.get("x-user-id") ?? "",
      role: request.headers.get("x-user-role") === "admin" ? "admin" : "user",
    },
    since,
    protocol: request.headers.get("x-accept-protocol"),
  };
}
