// Shared Postgres writers for the session outboxes. A session's object hands its batch to one of
// OUTBOX_WRITERS writer objects (by session id); a writer gathers the batches that arrive within a
// few milliseconds from many sessions and writes them in one statement on one connection. Without
// it every active session would open a connection per flush, and connection setup, not rows, would
// be the cost. The session keeps its rows until the writer answers, so nothing is lost if it fails.
//
// One statement for many sessions must not let one session's bad row fail them all: when Postgres
// refuses the statement for its data (not for being unreachable), each session is written on its
// own, and within a session that still fails the refused rows are found by halving and set aside as
// dead letters (or all of them, when the session's own row is missing), so the rest go on.
//
// While Postgres is unreachable a writer does not dial it for every batch: it checks Postgres
// itself at most every PROBE_MS, when batches arrive (one check shared by every batch waiting for
// it), and answers them "Postgres is unreachable" when the check fails. Sessions told so retry
// about once a second (an RPC to their writer, no database connection) instead of backing off
// further, so a backlog starts draining within about a second of Postgres returning, and the
// database sees at most a check and a write per writer (OUTBOX_WRITERS of each) however many
// sessions wait: no herd.
import { DurableObject } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { writeDeadLetters, type DeadLetter } from "../db/queries/dead-letters";
import { writeOutboxes, type OutboxItem } from "../db/queries/messages";
import { getSession } from "../db/queries/sessions";
import { getConfig } from "./config";
import { openDb, type Db } from "./db";
import { POSTGRES_UNREACHABLE } from "./session/outbox";
import { withTimeout } from "./with-timeout";
import { loggable } from "./errors";

/** How long a writer waits for more batches before it writes. */
const GATHER_MS = 10;
/** Session batches per statement. */
const MAX_ITEMS = 100;
/** Sessions remembered as needing a write of their own (a bound, not a working size). */
const MAX_SUSPECTS = 10_000;
/** While Postgres is unreachable: how often, at most, the writer checks whether it is back. */
export const PROBE_MS = 500;
/** A check that has not connected and answered by then counts as "still unreachable" (a hung path). */
const PROBE_TIMEOUT_MS = 2_000;

/** A session's batch: its rows, and rows its object could not serialise (to be set aside). */
export interface WriteItem extends OutboxItem {
  dead: DeadLetter[];
}

export interface WriteResult {
  inserted: number;
  deadLettered: number;
}

interface Waiting extends WriteItem {
  resolve: (result: WriteResult) => void;
  reject: (err: Error) => void;
}

/** Postgres refused the data itself (class 22 data exception, 23 integrity violation): retrying will not help. */
export function isDataError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code.startsWith("22") || code.startsWith("23");
  }
  return false;
}

function postgresMessage(err: unknown): string {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (typeof (e as { code?: unknown }).code === "string" && e instanceof Error) {
      const detail = (e as { detail?: unknown }).detail;
      return typeof detail === "string" ? `${e.message} (${detail})` : e.message;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

interface OutboxRow {
  seq: number;
  id: string | null;
}

const letter = (sessionId: string, row: OutboxRow, error: string): DeadLetter => ({
  sessionId,
  seq: row.seq,
  messageId: row.id,
  error,
  payload: JSON.stringify(row),
});

/** Raised to sessions while Postgres is unreachable; the message says nothing internal. */
const unreachable = () => new Error(POSTGRES_UNREACHABLE);

export class OutboxWriter extends DurableObject<Env> {
  private queue: Waiting[] = [];
  private draining = false;
  /** Sessions whose last write had to be taken apart: written on their own until one goes through whole. */
  private suspects = new Set<string>();
  /** Postgres could not be reached and no check has got through since (in memory: a new instance tries it). */
  private down = false;
  private lastProbeAt = 0;
  private probing: Promise<boolean> | null = null;

  /** Writes one session's batch (with many others); resolves once committed. */
  write(item: WriteItem): Promise<WriteResult> {
    return new Promise<WriteResult>((resolve, reject) => {
      this.queue.push({ ...item, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain() {
    this.draining = true;
    try {
      await new Promise((r) => setTimeout(r, GATHER_MS));
      if (this.down && !(await this.recovered())) return this.refuse(this.queue.splice(0));
      let handle: ReturnType<typeof openDb>;
      try {
        handle = openDb(getConfig(this.env));
      } catch (err) {
        // A configuration problem, not an outage: the sessions back off.
        console.error("outbox writer: cannot open the database", loggable(err));
        for (const item of this.queue.splice(0)) item.reject(new Error("outbox write failed"));
        return;
      }
      try {
        while (this.queue.length > 0) await this.writeRound(handle.db, this.queue.splice(0, MAX_ITEMS));
      } finally {
        void handle.close();
      }
    } finally {
      this.draining = false;
      if (this.queue.length > 0) void this.drain();
    }
  }

  /** Writes up to MAX_ITEMS batches: together in one statement, or, after a data error, each alone. */
  private async writeRound(db: Db, items: Waiting[]) {
    const alone = items.filter((i) => i.dead.length > 0 || this.suspects.has(i.sessionId));
    const together = items.filter((i) => !alone.includes(i));
    try {
      if (together.length > 0) {
        try {
          const inserted = await writeOutboxes(db, together);
          together.forEach((item, i) => item.resolve({ inserted: inserted[i] ?? 0, deadLettered: 0 }));
        } catch (err) {
          if (!isDataError(err)) throw err;
          console.error(`outbox writer: Postgres refused a write of ${together.length} session batches; writing each alone`, postgresMessage(err));
          alone.push(...together);
        }
      }
      // An error here means unreachable, not refused: what is not resolved yet fails below.
      for (const item of alone) item.resolve(await this.writeAlone(db, item));
    } catch (err) {
      console.error(`outbox writer: a write of ${items.length} session batches failed; checking Postgres every ${PROBE_MS} ms`, loggable(err));
      this.down = true;
      this.lastProbeAt = Date.now();
      this.refuse([...items, ...this.queue.splice(0)]);
    }
  }

  /** Postgres is unreachable: the sessions are told so, and retry soon. */
  private refuse(items: Waiting[]) {
    for (const item of items) item.reject(unreachable());
  }

  /**
   * While down: whether Postgres answers again. One check per PROBE_MS at most, shared by every
   * batch arriving meanwhile; a batch that arrives between checks waits for the next one (at most
   * PROBE_MS) rather than being refused on an old answer, so the first retries after Postgres
   * returns go through.
   */
  private recovered(): Promise<boolean> {
    this.probing ??= new Promise((r) => setTimeout(r, Math.max(0, this.lastProbeAt + PROBE_MS - Date.now())))
      .then(() => this.probe())
      .then((ok) => {
        this.lastProbeAt = Date.now();
        this.probing = null;
        if (ok) {
          this.down = false;
          console.log("outbox writer: Postgres is reachable again");
        }
        return ok;
      });
    return this.probing;
  }

  /** One connection and one trivial query, within PROBE_TIMEOUT_MS. */
  private async probe(): Promise<boolean> {
    let handle: ReturnType<typeof openDb> | undefined;
    try {
      handle = openDb(getConfig(this.env), { connectTimeoutMs: PROBE_TIMEOUT_MS, queryTimeoutMs: PROBE_TIMEOUT_MS });
      await withTimeout(handle.db.execute(sql`select 1`), PROBE_TIMEOUT_MS);
      return true;
    } catch {
      return false;
    } finally {
      void handle?.close();
    }
  }

  /** One session's batch on its own; what Postgres refuses is set aside and the rest is written. */
  private async writeAlone(db: Db, item: WriteItem): Promise<WriteResult> {
    await writeDeadLetters(db, item.dead);
    try {
      const [inserted = 0] = await writeOutboxes(db, [item]);
      this.suspects.delete(item.sessionId);
      return { inserted, deadLettered: item.dead.length };
    } catch (err) {
      if (!isDataError(err)) throw err;
    }
    if (this.suspects.size >= MAX_SUSPECTS) this.suspects.clear();
    this.suspects.add(item.sessionId);
    item = await this.writeExtras(db, item);
    const rows = JSON.parse(item.rows) as OutboxRow[];
    if (!(await getSession(db, item.sessionId))) {
      // No row of a session Postgres does not have can be written (restored from an older backup, or
      // deleted on the customer's request): all of them go aside, for an admin to decide.
      const error = `session ${item.sessionId} is not in the database`;
      await writeDeadLetters(db, rows.map((r) => letter(item.sessionId, r, error)));
      console.error(`outbox writer: ${rows.length} rows set aside: ${error}`);
      return { inserted: 0, deadLettered: item.dead.length + rows.length };
    }
    const result = await this.bisect(db, item, rows);
    return { inserted: result.inserted, deadLettered: item.dead.length + result.deadLettered };
  }

  /**
   * What the session says about itself (who handles it, its context and state, its turns' audit rows)
   * is written apart from its messages: if Postgres refuses that, it is logged and dropped (the
   * session's object still holds it), and no message is ever set aside because of it. Returns the
   * item without it.
   */
  private async writeExtras(db: Db, item: WriteItem): Promise<WriteItem> {
    const bare: WriteItem = { ...item, handling: null, turns: "[]" };
    const alone = (extras: Pick<WriteItem, "handling" | "turns">) =>
      writeOutboxes(db, [{ sessionId: item.sessionId, rows: "[]", status: null, statusAt: item.statusAt, handling: null, turns: "[]", ...extras }]);
    const refused = async (what: string, write: () => Promise<unknown>) => {
      try {
        await write();
        return false;
      } catch (err) {
        if (!isDataError(err)) throw err;
        console.error(`outbox writer: session ${item.sessionId}: Postgres refused ${what}; dropped`, postgresMessage(err));
        return true;
      }
    };
    if (item.handling) await refused("its handling (handler, agent type, context, state)", () => alone({ handling: item.handling }));
    const turns = JSON.parse(item.turns ?? "[]") as unknown[];
    // The turn rows together, and only if Postgres refuses them, one by one (dropping just the refused).
    if (turns.length > 0 && (await refused(`${turns.length} turn rows together`, () => alone({ turns: item.turns! })))) {
      for (const t of turns) await refused("a turn row", () => alone({ turns: JSON.stringify([t]) }));
    }
    return bare;
  }

  /** Writes `rows`, halving around the ones Postgres refuses; each refused row becomes a dead letter. */
  private async bisect(db: Db, item: WriteItem, rows: OutboxRow[]): Promise<WriteResult> {
    try {
      const [inserted = 0] = await writeOutboxes(db, [{ ...item, rows: JSON.stringify(rows) }]);
      return { inserted, deadLettered: 0 };
    } catch (err) {
      // Nothing to take apart (a batch with no rows, only a status): it retries like an outage.
      if (!isDataError(err) || rows.length === 0) throw err;
      if (rows.length === 1) {
        const error = postgresMessage(err);
        await writeDeadLetters(db, [letter(item.sessionId, rows[0]!, error)]);
        console.error(`outbox writer: session ${item.sessionId} seq ${rows[0]!.seq} set aside: ${error}`);
        return { inserted: 0, deadLettered: 1 };
      }
    }
    const mid = Math.ceil(rows.length / 2);
    const a = await this.bisect(db, item, rows.slice(0, mid));
    const b = await this.bisect(db, item, rows.slice(mid));
    return { inserted: a.inserted + b.inserted, deadLettered: a.deadLettered + b.deadLettered };
  }
}

/** The writer for a session: sessions spread over OUTBOX_WRITERS objects, each always the same. */
export function outboxWriter(env: Env, sessionId: string, writers: number) {
  let h = 0;
  for (let i = 0; i < sessionId.length; i++) h = (h * 31 + sessionId.charCodeAt(i)) >>> 0;
  return env.OUTBOX_WRITER.get(env.OUTBOX_WRITER.idFromName(`outbox-${h % writers}`));
}
