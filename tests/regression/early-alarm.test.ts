// An alarm that fires a moment before the time it was set for (as Date.now() sees it) still runs the
// job it was set for. Before, the job stayed, the handler set the alarm to that same time again, the
// runtime dropped it when the handler returned, and a session's outbox stopped retrying for good.
import { afterEach, describe, expect, it, vi } from "vitest";
import { TIMER_SLACK_MS, Timers } from "../../worker/session/timers";

/** Just enough of the Durable Object storage for Timers: statements are accepted, alarms recorded. */
function fakeStorage() {
  const alarms: number[] = [];
  const sql = { exec: () => ({ [Symbol.iterator]: function* () {}, toArray: () => [] }) } as unknown as SqlStorage;
  const storage = { setAlarm: async (at: number) => void alarms.push(at), getAlarm: async () => null } as unknown as DurableObjectStorage;
  return { sql, storage, alarms };
}

afterEach(() => vi.useRealTimers());

describe("Timers and an alarm that fires early", () => {
  it("runs a job due within the slack, times in whole milliseconds", () => {
    vi.useFakeTimers({ now: 10_000 });
    const { sql, storage, alarms } = fakeStorage();
    const timers = new Timers(sql, storage);
    timers.set("flush", 10_250.54);
    expect(alarms).toEqual([10_251]);
    // The alarm runs at 10,250 by Date.now(): the job (due at 10,251) runs now.
    vi.setSystemTime(10_250);
    expect(timers.takeDue(Date.now())).toEqual(["flush"]);
    expect(timers.at("flush")).toBeUndefined();
  });

  it("never re-arms the alarm for a time that has passed", () => {
    vi.useFakeTimers({ now: 20_000 });
    const { sql, storage, alarms } = fakeStorage();
    const timers = new Timers(sql, storage);
    timers.set("agent", 25_000);
    vi.setSystemTime(26_000);
    timers.takeDue(20_000 - TIMER_SLACK_MS - 1); // an alarm for something else, long before "agent" is due
    timers.arm();
    expect(alarms.at(-1)).toBe(26_001);
  });
});
