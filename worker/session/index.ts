// How the rest of the Worker reaches a session's Durable Object.
import { getSession } from "../../db/queries/sessions";
import { sessionIdSecret, type Config } from "../config";
import type { Db } from "../db";
import type { Session } from "../schemas";
import { isIssuedSessionId } from "../session-id";
import type { SessionChange } from "./contract";

/** The session's object. `sessionId` must be canonical (see sessionIdSchema): one spelling, one object. */
export function sessionStub(env: Env, sessionId: string) {
  if (sessionId !== sessionId.toLowerCase()) throw new Error(`session id ${sessionId} is not in canonical form`);
  return env.CHAT_SESSION.get(env.CHAT_SESSION.idFromName(sessionId));
}

/**
 * Whether a request naming `sessionId` may go to its object: the id carries this deployment's tag
 * (no I/O), or Postgres knows the session. Addressing an object creates it, so a guessed id must
 * stop here. Throws when Postgres had to be asked and could not be reached.
 */
export async function mayReachSession(config: Config, db: () => Db, sessionId: string): Promise<boolean> {
  if (await isIssuedSessionId(sessionId, sessionIdSecret(config))) return true;
  return (await getSession(db(), sessionId)) !== undefined;
}

/** Tells a session's object about a change made in Postgres, so its sockets hear of it at once. */
export async function notifySession(env: Env, session: Session, change: SessionChange = "status"): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await sessionStub(env, session.id).changed(session, change);
    } catch (err) {
      // Postgres holds the change either way; the object's sockets just would not hear of it.
      if (attempt >= 2) return console.error(`session ${session.id}: change notification failed`, err);
    }
  }
}
