// The session's outbox: what the object stored, written to Postgres in batches through a shared
// writer. A short in-memory timer batches a burst; the "flush" timer row is the durable backstop and,
// while Postgres fails, carries the backoff.
import type { SessionHandling } from "../../db/queries/messages";
import type { Config } from "../config";
import type { WriteItem, WriteResult } from "../outbox-writer";
import type { Meta, SessionStore } from "./store";
import type { Timers } from "./timers";
import { withTimeout } from "../with-timeout";
import { loggable } from "../errors";

/** Outbox rows handed to the writer per round. */
const FLUSH_BATCH = 500;
/** A flush that has not been answered by then counts as failed (re-sent rows are skipped by Postgres). */
const WRITE_TIMEOUT_MS = 30_000;
/** How far out the durable backstop for an unflushed outbox is set. */
const BACKSTOP_MS = 5_000;

export const FLUSH_TIMER = "flush";

/** The wait before flush attempt `attempts + 1` after `attempts` consecutive failures: doubling from 250 ms to the cap, ±20 %. */
export function flushBackoffMs(attempts: number, maxSeconds: number, random = Math.random): number {
  return Math.min(maxSeconds * 1000, 250 * 2 ** (attempts - 1)) * (0.8 + random() * 0.4);
}

/**
 * While the writer says Postgres is unreachable, the session asks again about once a second (±25 %,
 * so sessions spread out): the writer answers without dialling Postgres and checks it itself at
 * most every PROBE_MS, so these retries cost an RPC, not a connection, and a backlog starts
 * draining within about a second of Postgres returning instead of after a long backoff.
 */
export const UNREACHABLE_RETRY_MS = 1_000;

/** What the outbox writer answers while Postgres is unreachable (the session then retries soon rather than backing off). */
export const POSTGRES_UNREACHABLE = "postgres unreachable";

/** What the object owns about its session, as Postgres stores it. */
function handlingOf(meta: Meta): SessionHandling {
  const s = meta.session;
  return {
    agent_type: s.agentType,
    handler: s.handler,
    handler_user_id: s.handlerUserId,
    handler_since_ms: s.handlerSince ? Date.parse(s.handlerSince) : null,
    context: s.context,
    state: meta.state ?? {},
  };
}

export class Outbox {
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<boolean> | null = null;
  /** When the last flush started (in memory: after a restart the first flush may come early). */
  private lastFlushAt = 0;

  constructor(
    /** The session's turn rows Postgres does not have yet, and the call saying it now has them. */
    private readonly turns: { auditBatch(sessionId: string, limit: number): { json: string; gen: number } | null; audited(gen: number): void; unaudited(): boolean },
    /** The shared writer for this session (see outbox-writer.ts). */
    private readonly writer: (sessionId: string) => { write(item: WriteItem): Promise<WriteResult> },
    private readonly config: Config,
    private readonly store: SessionStore,
    private readonly timers: Timers,
    private readonly meta: () => Meta | null,
  ) {}

  /** Whether something stored here has not reached Postgres yet (messages, a status, the handling, turn rows). */
  behind(): boolean {
    const meta = this.meta();
    if (!meta) return false;
    return meta.session.lastSeq > this.store.flushedThrough() || meta.statusDirty || meta.handlingDirty === true || this.turns.unaudited();
  }

  /**
   * Arranges for the outbox to be written: an in-memory timer (a short delay lets a burst share one
   * flush; under steady load flushes are spaced OUTBOX_FLUSH_INTERVAL_MS apart and carry more rows),
   * and, in case this instance goes away first, the backstop timer. While Postgres is failing, the
   * backoff owns the retries.
   */
  request(now: number) {
    const meta = this.meta();
    if (!meta || meta.flushAttempts > 0) return;
    if (!this.flushTimer) {
      const { OUTBOX_FLUSH_DELAY_MS: delay, OUTBOX_FLUSH_INTERVAL_MS: interval } = this.config;
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        void this.run();
      }, Math.max(delay, this.lastFlushAt + interval - now));
    }
    this.timers.ensure(FLUSH_TIMER, now + BACKSTOP_MS);
  }

  /** One flush at a time; a failure starts (or continues) the backoff. Resolves false when Postgres could not be reached. */
  run(): Promise<boolean> {
    if (this.flushing) return this.flushing;
    const meta = this.meta();
    if (!meta) return Promise.resolve(true);
    this.flushing = (async () => {
      let ok = false;
      try {
        const outcome = await this.flush(meta);
        ok = outcome === "ok";
        if (!ok) {
          meta.flushAttempts += 1;
          this.store.saveMeta(meta);
          const wait =
            outcome === "unreachable"
              ? UNREACHABLE_RETRY_MS * (0.75 + Math.random() * 0.5)
              : flushBackoffMs(meta.flushAttempts, this.config.OUTBOX_MAX_BACKOFF_SECONDS);
          this.timers.set(FLUSH_TIMER, Date.now() + wait);
        } else if (meta.flushAttempts > 0) {
          meta.flushAttempts = 0;
          this.store.saveMeta(meta);
        }
        return ok;
      } finally {
        this.flushing = null;
        // Messages that arrived during the flush.
        if (ok && this.behind()) this.request(Date.now());
      }
    })();
    return this.flushing;
  }

  /** Writes the outbox to Postgres in batches: "unreachable" when the writer says Postgres is, "failed" for any other failure. */
  private async flush(meta: Meta): Promise<"ok" | "unreachable" | "failed"> {
    let batch = this.store.outboxBatch(FLUSH_BATCH);
    let turns = this.turns.auditBatch(meta.session.id, FLUSH_BATCH);
    if (!batch && !meta.statusDirty && !turns && !meta.handlingDirty) return "ok";
    this.lastFlushAt = Date.now();
    const writer = this.writer(meta.session.id);
    try {
      // A backlog (full batches) is written round after round; a trickle that arrived during the
      // write waits for the next flush, so each flush carries many rows.
      for (;;) {
        const status = meta.statusDirty && (meta.session.status === "active" || meta.session.status === "idle") ? meta.session.status : null;
        const dirtyBefore = meta.statusDirty;
        const handling = meta.handlingDirty ? handlingOf(meta) : null;
        const { inserted, deadLettered } = await withTimeout(
          writer.write({
            sessionId: meta.session.id, rows: batch?.json ?? "[]", dead: batch?.dead ?? [], status, statusAt: meta.statusAt ?? Date.now(),
            handling, turns: turns?.json ?? "[]",
          }),
          WRITE_TIMEOUT_MS,
        );
        if (turns) this.turns.audited(turns.gen);
        // A change made while we were writing stays dirty for the next round.
        if (handling && JSON.stringify(handlingOf(meta)) === JSON.stringify(handling)) {
          meta.handlingDirty = false;
          this.store.saveMeta(meta);
        }
        if (batch) {
          if (deadLettered > 0) console.error(`session ${meta.session.id}: ${deadLettered} outbox rows could not be written and were set aside`);
          if (inserted + deadLettered < batch.count) {
            // Rows written before a restart (the stored watermark trails) or by a flush whose answer
            // was lost; the unique (session_id, seq) kept them single.
            console.log(`session ${meta.session.id}: ${batch.count - inserted - deadLettered} of ${batch.count} outbox rows were already in Postgres`);
          }
          this.store.markFlushed(batch.last, meta.session.lastSeq - this.config.REPLAY_LIMIT + 1);
        }
        // A status change that arrived while we were writing stays dirty for the next round.
        if (dirtyBefore && status === meta.session.status) {
          meta.statusDirty = false;
          this.store.saveMeta(meta);
        }
        if (!meta.statusDirty && batch?.count !== FLUSH_BATCH && !turns) return "ok";
        batch = this.store.outboxBatch(FLUSH_BATCH);
        turns = this.turns.auditBatch(meta.session.id, FLUSH_BATCH);
        if (!batch && !meta.statusDirty && !turns && !meta.handlingDirty) return "ok";
      }
    } catch (err) {
      if (String(err).includes(POSTGRES_UNREACHABLE)) return "unreachable";
      console.error(`session ${meta.session.id}: outbox flush failed (attempt ${meta.flushAttempts + 1})`, loggable(err));
      return "failed";
    }
  }
}
