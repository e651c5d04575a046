// The reply so far of each running agent turn (pure): applies `turn` and `delta` frames, ignoring
// repeated deltas and those of an older attempt, and starting over when a new attempt begins.
import { finalTurnStates, type TurnFrameBody } from "../worker/protocol";

const FINAL: ReadonlySet<string> = new Set(finalTurnStates);
/** Turns remembered at once; a session runs one at a time, so this only guards against leaks. */
const MAX_TURNS = 16;

interface Reply {
  attempt: number;
  /** The last delta index applied (-1: none). */
  index: number;
  text: string;
}

export class ReplyText {
  private readonly replies = new Map<string, Reply>();

  /** A turn frame: a snapshot (with `text`/`index`, sent to a socket that joins mid-turn) replaces what we had. */
  turn(turn: TurnFrameBody) {
    if (FINAL.has(turn.state)) {
      this.replies.delete(turn.turnId);
      return;
    }
    const had = this.replies.get(turn.turnId);
    if (turn.text !== undefined && turn.index !== undefined) this.set(turn.turnId, { attempt: turn.attempt, index: turn.index, text: turn.text });
    else if (had && turn.attempt > had.attempt) this.set(turn.turnId, { attempt: turn.attempt, index: -1, text: "" });
  }

  /** A delta frame: the reply so far after it, or null when it is stale (older attempt) or already applied. */
  delta(d: { turnId: string; attempt: number; index: number; text: string }): string | null {
    let reply = this.replies.get(d.turnId);
    if (!reply || d.attempt > reply.attempt) this.set(d.turnId, (reply = { attempt: d.attempt, index: -1, text: "" }));
    if (d.attempt < reply.attempt || d.index <= reply.index) return null;
    reply.index = d.index;
    reply.text += d.text;
    return reply.text;
  }

  /** The reply so far of a turn, if it is running. */
  text(turnId: string): string | undefined {
    return this.replies.get(turnId)?.text;
  }

  private set(turnId: string, reply: Reply) {
    this.replies.delete(turnId);
    this.replies.set(turnId, reply);
    if (this.replies.size > MAX_TURNS) this.replies.delete(this.replies.keys().next().value!);
  }
}
