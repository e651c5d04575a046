// How the rest of the Worker reaches a session's Durable Object.
import type { Session } from "../schemas";
import type { SessionChange } from "./chat-session";

export function sessionStub(env: Env, sessionId: string) {
  return env.CHAT_SESSION.get(env.CHAT_SESSION.idFromName(sessionId));
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
