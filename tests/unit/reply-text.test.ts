// ReplyText: the reply so far of a turn from its turn and delta frames — repeats and stale attempts ignored,
// a mid-turn snapshot taken as the starting point, a new attempt starting over.
import { describe, expect, it } from "vitest";
import { ReplyText } from "../../client/reply-text";
import type { TurnFrameBody } from "../../worker/protocol";

const turn = (over: Partial<TurnFrameBody>): TurnFrameBody => ({ turnId: "t1", state: "streaming", agentType: "a", attempt: 1, parentId: "p", ...over });
const delta = (index: number, text: string, attempt = 1, turnId = "t1") => ({ turnId, attempt, index, text });

describe("ReplyText", () => {
  it("adds up deltas in order and ignores one it has already applied", () => {
    const r = new ReplyText();
    expect(r.delta(delta(0, "Hel"))).toBe("Hel");
    expect(r.delta(delta(1, "lo"))).toBe("Hello");
    expect(r.delta(delta(1, "lo"))).toBeNull();
    expect(r.text("t1")).toBe("Hello");
  });

  it("starts from a mid-turn snapshot and applies only the deltas above its index", () => {
    const r = new ReplyText();
    r.turn(turn({ text: "Your order ships ", index: 2 }));
    expect(r.delta(delta(2, "ships "))).toBeNull();
    expect(r.delta(delta(3, "on "))).toBe("Your order ships on ");
    // A snapshot with nothing yet.
    r.turn(turn({ turnId: "t2", text: "", index: -1 }));
    expect(r.delta(delta(0, "A", 1, "t2"))).toBe("A");
  });

  it("discards the earlier attempt's text when a new attempt begins, and ignores the old attempt's late deltas", () => {
    const r = new ReplyText();
    r.delta(delta(0, "Half "));
    r.delta(delta(1, "a "));
    r.turn(turn({ state: "calling", attempt: 2 }));
    expect(r.text("t1")).toBe("");
    expect(r.delta(delta(2, "sentence", 1))).toBeNull();
    expect(r.delta(delta(0, "The ", 2))).toBe("The ");
    // A delta of a newer attempt than any turn frame said also starts over.
    expect(r.delta(delta(0, "Third", 3))).toBe("Third");
  });

  it("forgets a turn once it is over", () => {
    const r = new ReplyText();
    r.delta(delta(0, "x"));
    r.turn(turn({ state: "done", replySeq: 4 }));
    expect(r.text("t1")).toBeUndefined();
  });
});
