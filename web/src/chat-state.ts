// The open conversation's state as a pure reducer: messages in seq order once each, replies being written, who is typing. No I/O, no DOM.
import { finalTurnStates, type Message, type Turn, type TurnState } from "./chat-api";

/** A reply the agent is writing (or about to): shown as a bubble until its stored message arrives. */
export interface Writing {
  turnId: string;
  state: TurnState;
  agentType: string;
  attempt: number;
  text: string;
  replySeq?: number;
}

export interface ChatState {
  /** Ascending by seq, no seq twice. */
  messages: Message[];
  /** More messages exist before the first one here. */
  hasOlder: boolean;
  writing: Record<string, Writing>;
  /** Set when a reply was stopped (or failed for good) and nothing has been said since. */
  notice: string | null;
  /** Users typing now (not the viewer), with when their indicator lapses (ms since the epoch). */
  typing: Record<string, number>;
}

export type ChatAction =
  | { type: "loaded"; messages: Message[]; hasOlder: boolean }
  | { type: "older"; messages: Message[]; hasOlder: boolean }
  | { type: "message"; message: Message }
  | { type: "turn"; turn: Turn }
  | { type: "delta"; turnId: string; attempt: number; text: string }
  | { type: "typing"; userId: string; isTyping: boolean; now: number }
  | { type: "tick"; now: number };

export const initialChatState: ChatState = { messages: [], hasOlder: false, writing: {}, notice: null, typing: {} };

/** A typing indicator lasts this long unless renewed (a client that vanished never says "stopped"). */
export const TYPING_TTL_MS = 6_000;

export const isRunning = (state: TurnState) => !finalTurnStates.includes(state);

/** Merges two seq-ordered lists; on a seq in both, the incoming copy wins. */
export function mergeMessages(have: Message[], incoming: Message[]): Message[] {
  if (incoming.length === 0) return have;
  const bySeq = new Map(have.map((m) => [m.seq, m]));
  for (const m of incoming) bySeq.set(m.seq, m);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** The turn a stored agent reply belongs to (agentInfo.turnId), if any. */
export function replyTurnId(m: Message): string | undefined {
  const id = m.agentInfo?.turnId;
  return typeof id === "string" ? id : undefined;
}

function without(writing: Record<string, Writing>, turnId: string) {
  if (!(turnId in writing)) return writing;
  const { [turnId]: _gone, ...rest } = writing;
  return rest;
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case "loaded":
      return { ...initialChatState, messages: mergeMessages([], action.messages), hasOlder: action.hasOlder };
    case "older":
      return { ...state, messages: mergeMessages(state.messages, action.messages), hasOlder: action.hasOlder };
    case "message": {
      const m = action.message;
      let writing = state.writing;
      const turnId = replyTurnId(m);
      if (turnId) writing = without(writing, turnId);
      for (const w of Object.values(writing)) if (w.replySeq === m.seq) writing = without(writing, w.turnId);
      // Whoever wrote it has stopped typing.
      const { [m.userId]: _typing, ...typing } = state.typing;
      return { ...state, messages: mergeMessages(state.messages, [m]), writing, typing, notice: null };
    }
    case "turn": {
      const t = action.turn;
      const had = state.writing[t.turnId];
      if (t.state === "cancelled") return { ...state, writing: without(state.writing, t.turnId), notice: "The reply was stopped." };
      if (t.state === "failed") return { ...state, writing: without(state.writing, t.turnId) };
      if (t.state === "done") {
        // The stored reply may already be here (it comes as a message of its own).
        if (t.replySeq !== undefined && state.messages.some((m) => m.seq === t.replySeq)) return { ...state, writing: without(state.writing, t.turnId) };
        if (!had) return state;
      }
      const newAttempt = !had || t.attempt > had.attempt;
      const text = t.text ?? (newAttempt ? "" : had.text);
      const next: Writing = { turnId: t.turnId, state: t.state, agentType: t.agentType, attempt: t.attempt, text, ...(t.replySeq !== undefined ? { replySeq: t.replySeq } : {}) };
      return { ...state, writing: { ...state.writing, [t.turnId]: next }, notice: null };
    }
    case "delta": {
      const had = state.writing[action.turnId];
      if (had && action.attempt < had.attempt) return state;
      // A finished turn's late delta must not bring its bubble back.
      if (!had && state.messages.some((m) => replyTurnId(m) === action.turnId)) return state;
      const next: Writing = had
        ? { ...had, attempt: action.attempt, text: action.text, state: had.state === "done" ? "done" : "streaming" }
        : { turnId: action.turnId, state: "streaming", agentType: "", attempt: action.attempt, text: action.text };
      return { ...state, writing: { ...state.writing, [action.turnId]: next } };
    }
    case "typing": {
      if (!action.isTyping) {
        const { [action.userId]: _gone, ...typing } = state.typing;
        return { ...state, typing };
      }
      return { ...state, typing: { ...state.typing, [action.userId]: action.now + TYPING_TTL_MS } };
    }
    case "tick": {
      const live = Object.entries(state.typing).filter(([, until]) => until > action.now);
      return live.length === Object.keys(state.typing).length ? state : { ...state, typing: Object.fromEntries(live) };
    }
  }
}

/** The turn a stop button would stop: the newest one still running. */
export function runningTurn(state: ChatState): Writing | undefined {
  return Object.values(state.writing).filter((w) => isRunning(w.state)).at(-1);
}
