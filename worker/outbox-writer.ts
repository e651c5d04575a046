// Shared Postgres writers for the session outboxes. A session's object hands its batch to one of
// OUTBOX_WRITERS writer objects (by session id); a writer gathers the batches that arrive within a
// few milliseconds from many sessions and writes them in one statement on one connection. Without
// it every active session would open a connection per flush, and connection setup, not rows, would
// be the cost. The session keeps its rows until the writer answers, so nothing is lost if it fails.
import { DurableObject } from "cloudflare:workers";
import { writeOutboxes, type OutboxItem } from "../db/queries/messages";
import { getConfig } from "./config";
import { openDb } from "./db";

/** How long a writer waits for more batches before it writes. */
const GATHER_MS = 10;
/** Session batches per statement. */
const MAX_ITEMS = 100;

interface Waiting extends OutboxItem {
  resolve: (inserted: number) => void;
  reject: (err: Error) => void;
}

export class OutboxWriter extends DurableObject<Env> {
  private queue: Waiting[] = [];
  private draining = false;

  /** Writes one session's batch (with many others); resolves with the rows inserted once committed. */
  write(item: OutboxItem): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ ...item, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain() {
    this.draining = true;
    try {
      await new Promise((r) => setTimeout(r, GATHER_MS));
      let handle: ReturnType<typeof openDb>;
      try {
        handle = openDb(getConfig(this.env));
      } catch (err) {
        console.error("outbox writer: cannot open the database", err);
        for (const item of this.queue.splice(0)) item.reject(new Error("outbox write failed"));
        return;
      }
      try {
        while (this.queue.length > 0) {
          const items = this.queue.splice(0, MAX_ITEMS);
          try {
            const inserted = await writeOutboxes(handle.db, items);
            items.forEach((item, i) => item.resolve(inserted[i] ?? 0));
          } catch (err) {
            console.error(`outbox writer: a write of ${items.length} session batches failed`, err);
            // Each session retries on its own schedule; the message says nothing internal.
            const failure = new Error("outbox write failed");
            for (const item of [...items, ...this.queue.splice(0)]) item.reject(failure);
          }
        }
      } finally {
        void handle.close();
      }
    } finally {
      this.draining = false;
      if (this.queue.length > 0) void this.drain();
    }
  }
}

/** The writer for a session: sessions spread over OUTBOX_WRITERS objects, each always the same. */
export function outboxWriter(env: Env, sessionId: string, writers: number) {
  let h = 0;
  for (let i = 0; i < sessionId.length; i++) h = (h * 31 + sessionId.charCodeAt(i)) >>> 0;
  return env.OUTBOX_WRITER.get(env.OUTBOX_WRITER.idFromName(`outbox-${h % writers}`));
}
