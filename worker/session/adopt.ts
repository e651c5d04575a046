// Adoption: an object with no state of its own (created before objects held sessions, or its storage
// was lost) loads its session, and the clientIds already used, from Postgres.
import { messageBySeq, messageHistory, sessionClientIds } from "../../db/queries/messages";
import { agentState, getSession } from "../../db/queries/sessions";
import type { Config } from "../config";
import { openDb } from "../db";
import { toMessage, toSession, type Message, type Session } from "../schemas";
import { SessionUnavailable } from "./contract";
import { loggable } from "../errors";

export async function loadFromPostgres(
  config: Config,
  sessionId: string,
): Promise<{ session: Session; state: Record<string, unknown>; clientIds: { clientId: string; seq: number }[] } | null> {
  const handle = openDb(config);
  try {
    const row = await getSession(handle.db, sessionId);
    if (!row) return null;
    const [clientIds, state] = await Promise.all([sessionClientIds(handle.db, sessionId), agentState(handle.db, sessionId)]);
    return { session: toSession(row), state, clientIds };
  } catch (err) {
    console.error(`session ${sessionId}: could not load from Postgres`, loggable(err));
    throw new SessionUnavailable("the session store is unavailable; retry shortly", { cause: err });
  } finally {
    void handle.close();
  }
}

/** A message this object no longer holds (pruned after it reached Postgres); null when unreachable. */
export async function messageFromPostgres(config: Config, sessionId: string, seq: number): Promise<Message | null> {
  const handle = openDb(config);
  try {
    const row = await messageBySeq(handle.db, sessionId, seq);
    return row ? toMessage(row) : null;
  } catch {
    return null;
  } finally {
    void handle.close();
  }
}

/**
 * Messages this object pruned (they reached Postgres first): the given seqs, and the `historyLimit`
 * before `before`, ascending. Throws when Postgres cannot be reached.
 */
export async function messagesFromPostgres(
  config: Config,
  sessionId: string,
  seqs: number[],
  history: { before: number; limit: number } | null,
): Promise<{ messages: Message[]; history: Message[] }> {
  const handle = openDb(config);
  try {
    const messages = await Promise.all(seqs.map((seq) => messageBySeq(handle.db, sessionId, seq)));
    const page = history && history.limit > 0 ? await messageHistory(handle.db, sessionId, { limit: history.limit, before: history.before }) : null;
    return {
      messages: messages.filter((m) => m !== undefined).map(toMessage),
      history: (page?.messages ?? []).map(toMessage),
    };
  } finally {
    void handle.close();
  }
}
