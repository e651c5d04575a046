// Every timed job of a session object as a row (name, due time), driven by the object's one alarm.
// A feature asks for "run `name` at `at`"; the alarm fires no later than the earliest row, and
// alarm() takes the rows that are due. Nothing else in the object sets the alarm.

/**
 * A row due within this much of the alarm runs with it. An alarm may fire a little before the time it
 * was set for (as Date.now() sees it); a row it leaves for later would re-arm the very same time, and
 * an alarm set during alarm() to the time that is running is dropped when the handler returns.
 */
export const TIMER_SLACK_MS = 10;

export class Timers {
  /** name → due time (ms), mirroring the table so the hot path (ensure) touches no storage. */
  private readonly rows = new Map<string, number>();
  /** The alarm as last set (null: none or fired). */
  private armedAt: number | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly storage: DurableObjectStorage,
  ) {
    sql.exec("CREATE TABLE IF NOT EXISTS timers (name TEXT PRIMARY KEY, at INTEGER NOT NULL)");
    for (const r of sql.exec<{ name: string; at: number }>("SELECT name, at FROM timers")) this.rows.set(r.name, r.at);
  }

  /** Reads the alarm as stored (once, when the instance starts). */
  async load(): Promise<void> {
    this.armedAt = await this.storage.getAlarm();
  }

  at(name: string): number | undefined {
    return this.rows.get(name);
  }

  /** `name` runs no later than `at` (an earlier time already set is kept). */
  ensure(name: string, at: number): void {
    at = Math.ceil(at);
    const current = this.rows.get(name);
    if (current !== undefined && current <= at) return;
    this.set(name, at);
  }

  /** `name` runs at `at` (replacing any time set before). */
  set(name: string, at: number): void {
    at = Math.ceil(at);
    this.rows.set(name, at);
    this.sql.exec("INSERT OR REPLACE INTO timers (name, at) VALUES (?, ?)", name, at);
    this.arm();
  }

  clear(name: string): void {
    if (!this.rows.delete(name)) return;
    this.sql.exec("DELETE FROM timers WHERE name = ?", name);
    // The alarm may still fire for it; alarm() then finds nothing due and re-arms.
  }

  /** The alarm fired: takes (removes) the rows due by `now`. Handlers that need to run again set their row anew. */
  takeDue(now: number): string[] {
    this.armedAt = null;
    const due = [...this.rows].filter(([, at]) => at <= now + TIMER_SLACK_MS).map(([name]) => name);
    for (const name of due) this.clear(name);
    return due;
  }

  /**
   * Makes the alarm fire no later than the earliest row. It is only ever moved earlier: moving it
   * later on every agent call would cost a storage write per turn, and an alarm that fires early
   * finds nothing due and re-arms.
   */
  arm(): void {
    let earliest: number | undefined;
    for (const at of this.rows.values()) if (earliest === undefined || at < earliest) earliest = at;
    if (earliest === undefined) return;
    // Never the past (nor the time of an alarm running now): the next millisecond at the soonest.
    earliest = Math.max(earliest, Date.now() + 1);
    if (this.armedAt !== null && this.armedAt <= earliest) return;
    this.armedAt = earliest;
    // Not awaited: the output gate holds what follows until the alarm is durable.
    void this.storage.setAlarm(earliest);
  }
}
