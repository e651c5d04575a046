// Who may touch a session: its owner; an admin may read and resolve anyone's.
import { TRPCError } from "@trpc/server";
import { getSession } from "../db/queries/sessions";
import type { User } from "./auth";
import type { Db } from "./db";

export type Access = "read" | "resolve" | "write";

/** Loads a session the caller may use for `access`; another user's session is NOT_FOUND, as if absent. */
export async function loadSession(db: Db, user: User, sessionId: string, access: Access) {
  const session = await getSession(db, sessionId);
  const owner = session?.userId === user.id;
  if (!session || (!owner && user.role !== "admin")) {
    throw new TRPCError({ code: "NOT_FOUND", message: `session ${sessionId} not found` });
  }
  if (!owner && access === "write") {
    throw new TRPCError({ code: "FORBIDDEN", message: "admins may read and resolve other users' sessions, not change them" });
  }
  return session;
}

/** User-scoped reads (lists, stats): yourself, or anyone for an admin. */
export function assertUserAccess(user: User, userId: string) {
  if (user.id !== userId && user.role !== "admin") {
    throw new TRPCError({ code: "FORBIDDEN", message: "you may only read your own sessions and stats" });
  }
}
