// One agent turn as the AI SDK's UI message stream (what `useChat` reads), derived from the frames the
// session broadcasts to its sockets. Pure: frames in, chunks out; no streams, no runtime.
import type { Message } from "../schemas";
import type { Frame } from "./sockets";

/** The UI message stream chunks we write (a subset of the AI SDK's `UIMessageChunk`). */
export type UIChunk =
  | { type: "start"; messageId: string; messageMetadata?: TurnMetadata }
  | { type: "start-step" }
  | { type: "finish-step" }
  /** Drops the current step's parts: an attempt that is retried takes its partial text with it. */
  | { type: "reset-step" }
  | { type: "text-start"; id: string }
  | { type: "text-delta"; id: string; delta: string }
  | { type: "text-end"; id: string }
  | { type: "finish"; finishReason: "stop"; messageMetadata?: TurnMetadata }
  | { type: "error"; errorText: string }
  | { type: "abort"; reason?: string };

/** What the assistant message carries as metadata: our ids, so a frontend can match it to history. */
export interface TurnMetadata {
  sessionId: string;
  turnId: string;
  /** Once the reply is stored: its seq (its id is the turn's id). */
  seq?: number;
  agentType?: string;
}

export interface Step {
  chunks: UIChunk[];
  /** The turn is over: nothing more will come for it. */
  done: boolean;
}

/** Where a follower starts: the turn, and (mid-turn) the reply streamed so far by the attempt in flight. */
export interface StreamStart {
  sessionId: string;
  turnId: string;
  agentType: string;
  attempt: number;
  /** The reply so far and the last delta index it covers (-1: none yet). */
  text: string;
  index: number;
}

export class UITurnStream {
  private attempt: number;
  private index: number;
  /** The text this stream has written for the current attempt. */
  private written = "";
  private open = false;
  private reply: Message | null = null;

  constructor(
    private readonly start: StreamStart,
    /** What the customer is told when the agent fails for good. */
    private readonly failText: string,
  ) {
    this.attempt = start.attempt;
    this.index = start.index;
  }

  private get textId() {
    return `${this.start.turnId}:${this.attempt}`;
  }

  private meta(extra: Partial<TurnMetadata> = {}): TurnMetadata {
    return { sessionId: this.start.sessionId, turnId: this.start.turnId, agentType: this.start.agentType, ...extra };
  }

  /** The opening chunks: start, a step, and the reply so far when joining mid-turn. */
  begin(): UIChunk[] {
    const chunks: UIChunk[] = [{ type: "start", messageId: this.start.turnId, messageMetadata: this.meta() }, { type: "start-step" }];
    if (this.start.text !== "") chunks.push(...this.write(this.start.text));
    return chunks;
  }

  private write(delta: string): UIChunk[] {
    const chunks: UIChunk[] = [];
    if (!this.open) {
      chunks.push({ type: "text-start", id: this.textId });
      this.open = true;
    }
    chunks.push({ type: "text-delta", id: this.textId, delta });
    this.written += delta;
    return chunks;
  }

  /** Forgets what the current step showed (a new attempt, or text that the stored reply does not start with). */
  private reset(): UIChunk[] {
    if (this.written === "" && !this.open) return [];
    this.written = "";
    this.open = false;
    return [{ type: "reset-step" }, { type: "start-step" }];
  }

  private closeText(): UIChunk[] {
    if (!this.open) return [];
    this.open = false;
    return [{ type: "text-end", id: this.textId }];
  }

  /** The stored reply is the truth: what was streamed is completed (or replaced) to match it. */
  private end(): UIChunk[] {
    const chunks: UIChunk[] = [];
    const content = this.reply?.content ?? "";
    if (!content.startsWith(this.written)) chunks.push(...this.reset());
    const rest = content.slice(this.written.length);
    if (rest !== "") chunks.push(...this.write(rest));
    chunks.push(...this.closeText(), { type: "finish-step" });
    const seq = this.reply ? { seq: this.reply.seq } : {};
    chunks.push({ type: "finish", finishReason: "stop", messageMetadata: this.meta(seq) });
    return chunks;
  }

  /** What a broadcast frame means for this turn's stream. */
  onFrame(frame: Frame): Step {
    const none: Step = { chunks: [], done: false };
    switch (frame.type) {
      case "delta": {
        if (frame.turnId !== this.start.turnId) return none;
        const chunks: UIChunk[] = [];
        if (frame.attempt !== this.attempt) {
          if (frame.attempt < this.attempt) return none;
          chunks.push(...this.closeText(), ...this.reset());
          this.attempt = frame.attempt;
          this.index = -1;
        }
        // Deltas at or below the index the stream started from are already in its text.
        if (frame.index <= this.index) return { chunks, done: false };
        this.index = frame.index;
        chunks.push(...this.write(frame.text));
        return { chunks, done: false };
      }
      case "message": {
        const message = frame.message as Message;
        const info = message.agentInfo as { turnId?: unknown } | null;
        if (message.direction === "outgoing" && info?.turnId === this.start.turnId) this.reply = message;
        return none;
      }
      case "turn": {
        const turn = frame.turn;
        if (turn.turnId !== this.start.turnId) return none;
        if (turn.state === "done") return { chunks: this.end(), done: true };
        if (turn.state === "failed") return { chunks: [...this.reset(), { type: "error", errorText: this.failText }], done: true };
        if (turn.state === "cancelled") return { chunks: [...this.closeText(), { type: "abort", reason: turn.error ?? "cancelled" }], done: true };
        return none;
      }
      default:
        return none;
    }
  }
}
