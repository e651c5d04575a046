// The session's open UI message streams (`/api/chat`): each follows one turn, fed by every frame the
// session broadcasts, written as server-sent events until the turn is over or the reader goes away.
import type { Frame } from "./sockets";
import { UITurnStream, type StreamStart, type UIChunk } from "./ui-stream";

const encoder = new TextEncoder();

/**
 * SSE framing by hand: one `data:` line per JSON chunk is the whole format (JSON never contains a raw
 * newline), and the `ai` package would add its whole bundle to the Worker for it.
 */
function sse(chunk: UIChunk | "[DONE]"): Uint8Array {
  return encoder.encode(`data: ${typeof chunk === "string" ? chunk : JSON.stringify(chunk)}\n\n`);
}

/** A UI message stream with nothing in it: the reader's request ends without an assistant message. */
export function emptyStream(): ReadableStream<Uint8Array> {
  return new Response(sse("[DONE]")).body!;
}

interface Follower {
  state: UITurnStream;
  writer: WritableStreamDefaultWriter<Uint8Array>;
}

export class TurnStreams {
  private readonly followers = new Set<Follower>();

  constructor(private readonly failText: string) {}

  /** A stream of the turn from `start` on, live until it ends. */
  follow(start: StreamStart): ReadableStream<Uint8Array> {
    const state = new UITurnStream(start, this.failText);
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const follower: Follower = { state, writer: writable.getWriter() };
    this.followers.add(follower);
    this.write(follower, state.begin(), false);
    return readable;
  }

  /** A stream of a turn that is already over: the frames that ended it (its reply, its last state), played at once. */
  replay(start: StreamStart, frames: Frame[]): ReadableStream<Uint8Array> {
    const state = new UITurnStream(start, this.failText);
    const chunks = state.begin();
    for (const frame of frames) chunks.push(...state.onFrame(frame).chunks);
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    this.write({ state, writer: writable.getWriter() }, chunks, true);
    return readable;
  }

  /** Every frame the session broadcasts passes through here. */
  onFrame(frame: Frame) {
    if (this.followers.size === 0) return;
    for (const follower of this.followers) {
      const step = follower.state.onFrame(frame);
      if (step.chunks.length > 0 || step.done) this.write(follower, step.chunks, step.done);
    }
  }

  get size() {
    return this.followers.size;
  }

  private write(follower: Follower, chunks: UIChunk[], done: boolean) {
    const { writer } = follower;
    // Not awaited: a slow reader must not hold up the session. A reader that went away fails the
    // write, and the follower is dropped.
    const drop = () => this.followers.delete(follower);
    for (const chunk of chunks) writer.write(sse(chunk)).catch(drop);
    if (done) {
      this.followers.delete(follower);
      writer.write(sse("[DONE]")).catch(() => {});
      writer.close().catch(() => {});
    }
  }
}
