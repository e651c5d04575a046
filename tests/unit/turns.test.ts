// The turn state machine (pure): which moves are allowed, and what a move records.
import { describe, expect, it } from "vitest";
import { IllegalTransition, moveTurn, turnView, type Turn } from "../../worker/session/turns";

const turn: Turn = {
  id: "7f5bde40-a9ee-456e-9f57-1ae41da2c821", agentType: "primary", state: "queued", attempt: 0, attempts: 0, step: 0, previous: [],
  messageSeqs: [1], parentId: "eb9833b7-4a6f-4e75-a795-5fcc55eca3e5", error: null, detail: null, dead: false, createdAt: 1000, startedAt: null,
  ttfbMs: null, firstDeltaMs: null, totalMs: null, replySeq: null, dueAt: null, updatedAt: 1000,
};

describe("moveTurn", () => {
  it("walks queued → calling → waiting_callback → retry_wait → calling → done, timing the whole turn", () => {
    const calling = moveTurn({ ...turn, startedAt: 2000 }, "calling", 2000, { attempt: 1, attempts: 1 });
    const waiting = moveTurn(calling, "waiting_callback", 2100);
    const retry = moveTurn(waiting, "retry_wait", 3000, { error: "no callback" });
    const again = moveTurn(retry, "calling", 4000, { attempt: 2, attempts: 2, error: null });
    const done = moveTurn(again, "done", 4500, { replySeq: 2 });
    expect(done).toMatchObject({ state: "done", attempts: 2, replySeq: 2, totalMs: 2500, updatedAt: 4500, error: null });
    expect(turnView(done)).toEqual({ turnId: turn.id, state: "done", agentType: "primary", attempt: 2, parentId: turn.parentId, replySeq: 2 });
  });

  it("refuses moves out of a finished turn, except replaying a failed one", () => {
    const done = moveTurn(moveTurn(turn, "calling", 1), "done", 2);
    expect(() => moveTurn(done, "calling", 3)).toThrow(IllegalTransition);
    const cancelled = moveTurn(turn, "cancelled", 2);
    expect(() => moveTurn(cancelled, "queued", 3)).toThrow(IllegalTransition);
    const failed = moveTurn(moveTurn(turn, "calling", 1), "failed", 2, { dead: true });
    expect(moveTurn(failed, "queued", 3, { dead: false })).toMatchObject({ state: "queued", dead: false });
  });

  it("refuses skipping the call", () => {
    expect(() => moveTurn(turn, "done", 2)).toThrow(/queued → done/);
    expect(() => moveTurn(turn, "waiting_callback", 2)).toThrow(IllegalTransition);
    expect(() => moveTurn(moveTurn(turn, "calling", 1), "queued", 2)).toThrow(IllegalTransition);
  });
});
