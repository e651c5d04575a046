// The UI message stream of a turn, from the frames the session broadcasts (no runtime).
import { describe, expect, it } from "vitest";
import type { Frame } from "../../worker/session/sockets";
import { UITurnStream, type UIChunk } from "../../worker/session/ui-stream";

const start = { sessionId: "s", turnId: "t", agentType: "primary", attempt: 1, text: "", index: -1 };
const delta = (index: number, text: string, attempt = 1): Frame => ({ type: "delta", turnId: "t", attempt, index, text });
const turn = (state: string, extra: Record<string, unknown> = {}): Frame =>
  ({ type: "turn", turn: { turnId: "t", state, agentType: "primary", attempt: 1, parentId: "p", ...extra } }) as Frame;
const reply = (content: string): Frame =>
  ({ type: "message", message: { id: "t", seq: 2, direction: "outgoing", content, agentInfo: { turnId: "t" } } }) as unknown as Frame;

/** What a reader of the chunks ends up showing (applying reset-step like the AI SDK does). */
function shown(chunks: UIChunk[]): string {
  let text = "";
  for (const c of chunks) {
    if (c.type === "reset-step") text = "";
    if (c.type === "text-delta") text += c.delta;
  }
  return text;
}

function run(s: UITurnStream, frames: Frame[]) {
  const chunks = s.begin();
  let done = false;
  for (const f of frames) {
    const step = s.onFrame(f);
    chunks.push(...step.chunks);
    done = step.done;
  }
  return { chunks, done };
}

describe("UITurnStream", () => {
  it("streams deltas and finishes with the stored reply's seq", () => {
    const { chunks, done } = run(new UITurnStream(start, "sorry"), [delta(0, "Hel"), delta(1, "lo"), reply("Hello"), turn("done", { replySeq: 2 })]);
    expect(done).toBe(true);
    expect(chunks.map((c) => c.type)).toEqual(["start", "start-step", "text-start", "text-delta", "text-delta", "text-end", "finish-step", "finish"]);
    expect(chunks[0]).toMatchObject({ messageId: "t" });
    expect(chunks.at(-1)).toMatchObject({ messageMetadata: { seq: 2, turnId: "t" } });
    expect(shown(chunks)).toBe("Hello");
  });

  it("joins mid-turn with the text so far and skips deltas it already covers", () => {
    const { chunks } = run(new UITurnStream({ ...start, text: "Hel", index: 0 }, "sorry"), [delta(0, "Hel"), delta(1, "lo"), reply("Hello"), turn("done")]);
    expect(shown(chunks)).toBe("Hello");
    expect(chunks.filter((c) => c.type === "text-delta")).toHaveLength(2);
  });

  it("drops a retried attempt's partial text", () => {
    const { chunks } = run(new UITurnStream(start, "sorry"), [delta(0, "Wro"), delta(0, "Right", 2), reply("Right"), turn("done")]);
    expect(chunks.map((c) => c.type)).toContain("reset-step");
    expect(shown(chunks)).toBe("Right");
  });

  it("replaces streamed text that the stored reply does not start with (masked at the end), and completes a callback reply", () => {
    expect(shown(run(new UITurnStream(start, "sorry"), [delta(0, "card 4111"), reply("card ****"), turn("done")]).chunks)).toBe("card ****");
    expect(shown(run(new UITurnStream(start, "sorry"), [reply("From the callback"), turn("done")]).chunks)).toBe("From the callback");
  });

  it("ends with an error when the turn fails, and with abort when it is cancelled", () => {
    const failed = run(new UITurnStream(start, "Our assistant is unavailable"), [delta(0, "par"), turn("failed", { error: "agent answered 500" })]);
    expect(failed.done).toBe(true);
    expect(failed.chunks.at(-1)).toEqual({ type: "error", errorText: "Our assistant is unavailable" });
    expect(shown(failed.chunks)).toBe("");
    const cancelled = run(new UITurnStream(start, "x"), [delta(0, "par"), turn("cancelled", { error: "cancelled" })]);
    expect(cancelled.chunks.at(-1)).toEqual({ type: "abort", reason: "cancelled" });
    expect(shown(cancelled.chunks)).toBe("par");
  });

  it("ignores other turns' frames", () => {
    const s = new UITurnStream(start, "x");
    s.begin();
    expect(s.onFrame({ type: "delta", turnId: "other", attempt: 1, index: 0, text: "no" })).toEqual({ chunks: [], done: false });
    expect(s.onFrame(turn("done", { turnId: "other" }))).toEqual({ chunks: [], done: false });
  });
});
