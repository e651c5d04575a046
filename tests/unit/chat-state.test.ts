// The chat page's conversation reducer (web/src/chat-state.ts): order, duplicates, the reply being written, stop, typing.
import { describe, expect, it } from "vitest";
import type { Message, Turn } from "../../web/src/chat-api";
import { chatReducer, initialChatState, runningTurn, TYPING_TTL_MS, type ChatAction, type ChatState } from "../../web/src/chat-state";

const msg = (seq: number, over: Partial<Message> = {}): Message => ({
  id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
  sessionId: "00000000-0000-4000-8000-000000000000",
  seq,
  clientId: null,
  userId: "alice",
  direction: "incoming",
  content: `message ${seq}`,
  messageType: "text",
  metadata: {},
  intent: null,
  entities: null,
  sentiment: null,
  confidence: null,
  agentInfo: null,
  processingMs: null,
  errorInfo: null,
  parentId: null,
  createdAt: new Date(0).toISOString(),
  ...over,
});
const turn = (turnId: string, state: Turn["state"], over: Partial<Turn> = {}): Turn => ({ turnId, state, agentType: "primary", attempt: 1, parentId: "p", ...over });
const reply = (seq: number, turnId: string) => msg(seq, { direction: "outgoing", userId: "agent:primary", agentInfo: { kind: "agent", turnId } });
const run = (...actions: ChatAction[]) => actions.reduce(chatReducer, initialChatState);
const seqs = (s: ChatState) => s.messages.map((m) => m.seq);

describe("chat state", () => {
  it("keeps messages in seq order, once each, whatever order they arrive in", () => {
    const s = run(
      { type: "loaded", messages: [msg(3), msg(4)], hasOlder: true },
      { type: "message", message: msg(6) },
      { type: "message", message: msg(5) },
      { type: "message", message: msg(5) },
      { type: "older", messages: [msg(1), msg(2), msg(3)], hasOlder: false },
    );
    expect(seqs(s)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.hasOlder).toBe(false);
  });

  it("shows the reply as it is written, then replaces it with the stored message", () => {
    let s = run({ type: "loaded", messages: [msg(1)], hasOlder: false }, { type: "turn", turn: turn("t1", "calling") });
    expect(runningTurn(s)).toMatchObject({ turnId: "t1", text: "" });
    s = chatReducer(s, { type: "delta", turnId: "t1", attempt: 1, text: "Hello" });
    s = chatReducer(s, { type: "delta", turnId: "t1", attempt: 1, text: "Hello there" });
    expect(s.writing.t1).toMatchObject({ state: "streaming", text: "Hello there" });
    s = chatReducer(s, { type: "turn", turn: turn("t1", "done", { replySeq: 2 }) });
    expect(s.writing.t1?.text).toBe("Hello there");
    expect(runningTurn(s)).toBeUndefined();
    s = chatReducer(s, { type: "message", message: reply(2, "t1") });
    expect(s.writing).toEqual({});
    expect(seqs(s)).toEqual([1, 2]);
    // A late delta of a finished turn does not bring its bubble back.
    expect(chatReducer(s, { type: "delta", turnId: "t1", attempt: 1, text: "Hello there!" }).writing).toEqual({});
  });

  it("drops the bubble when the stored reply comes before the turn's done", () => {
    const s = run({ type: "turn", turn: turn("t1", "streaming") }, { type: "delta", turnId: "t1", attempt: 1, text: "Hi" }, { type: "message", message: reply(2, "t1") }, { type: "turn", turn: turn("t1", "done", { replySeq: 2 }) });
    expect(s.writing).toEqual({});
  });

  it("a joining socket's turn carries the text so far; a new attempt starts the text again", () => {
    let s = run({ type: "turn", turn: turn("t1", "streaming", { text: "Half a rep", index: 3 }) });
    expect(s.writing.t1?.text).toBe("Half a rep");
    s = chatReducer(s, { type: "turn", turn: turn("t1", "retry_wait", { attempt: 2 }) });
    expect(s.writing.t1).toMatchObject({ attempt: 2, text: "" });
    expect(chatReducer(s, { type: "delta", turnId: "t1", attempt: 1, text: "stale" }).writing.t1?.text).toBe("");
  });

  it("a stopped reply disappears with a notice, cleared by the next message", () => {
    let s = run({ type: "turn", turn: turn("t1", "streaming") }, { type: "delta", turnId: "t1", attempt: 1, text: "Partial" }, { type: "turn", turn: turn("t1", "cancelled") });
    expect(s.writing).toEqual({});
    expect(s.notice).toBe("The reply was stopped.");
    s = chatReducer(s, { type: "message", message: msg(3) });
    expect(s.notice).toBeNull();
  });

  it("typing lapses on its own and ends with the typist's message", () => {
    let s = run({ type: "typing", userId: "sam", isTyping: true, now: 1_000 });
    expect(Object.keys(s.typing)).toEqual(["sam"]);
    expect(chatReducer(s, { type: "tick", now: 1_000 + TYPING_TTL_MS - 1 }).typing).toHaveProperty("sam");
    expect(chatReducer(s, { type: "tick", now: 1_000 + TYPING_TTL_MS + 1 }).typing).toEqual({});
    s = chatReducer(s, { type: "message", message: msg(1, { userId: "sam", direction: "outgoing" }) });
    expect(s.typing).toEqual({});
  });
});
