// Dead letters: outbox rows that can never reach chat_messages, kept where an admin can see them.
import { desc, lt, sql } from "drizzle-orm";
import { chatDeadLetters } from "../schema";
import type { Database } from "./sessions";

export interface DeadLetter {
  sessionId: string;
  seq: number;
  messageId: string | null;
  error: string;
  /** The outbox row as JSON text. */
  payload: string;
}

/** Sets rows aside; a row already there (the same session and seq, set aside before) is kept as it was. */
export async function writeDeadLetters(db: Database, letters: DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const rows = JSON.stringify(
    letters.map((l) => ({ session_id: l.sessionId, seq: l.seq, message_id: l.messageId, error: l.error, payload: l.payload })),
  );
  await db.execute(sql`
    insert into ${chatDeadLetters} (session_id, seq, message_id, error, payload)
    select session_id, seq, message_id, error, payload
    from json_to_recordset(${rows}::json) as d(session_id uuid, seq integer, message_id uuid, error text, payload text)
    on conflict (session_id, seq) do nothing`);
}

/** Newest first, keyset on id. */
export async function listDeadLetters(db: Database, input: { limit: number; before?: number | undefined }) {
  const rows = await db
    .select()
    .from(chatDeadLetters)
    .where(input.before !== undefined ? lt(chatDeadLetters.id, input.before) : undefined)
    .orderBy(desc(chatDeadLetters.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  return { rows: page, nextCursor: rows.length > input.limit ? (page.at(-1)?.id ?? null) : null };
}
