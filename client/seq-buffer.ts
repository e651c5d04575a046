// Puts a session's messages in seq order, once each (pure, no I/O): live frames, replays and history
// pages may overlap or arrive early; only the next seq in line is ever delivered.

export class SeqBuffer<T extends { seq: number }> {
  /** Highest seq delivered; -1 until the starting point is known. */
  lastSeq: number;
  /** Messages above a hole, waiting for it to be filled. */
  private readonly held = new Map<number, T>();
  /** The highest seq the server said exists (ready, resync): everything up to it is owed to us. */
  private known = -1;

  constructor(lastSeq = -1) {
    this.lastSeq = lastSeq;
  }

  get started() {
    return this.lastSeq >= 0;
  }

  /** Sets the starting point if there was none yet; returns what can now be delivered. */
  start(lastSeq: number): T[] {
    if (!this.started) {
      this.lastSeq = lastSeq;
      for (const seq of this.held.keys()) if (seq <= lastSeq) this.held.delete(seq);
    }
    return this.drain();
  }

  /** Takes a message; returns the messages now deliverable, in order (empty for a duplicate or one above a hole). */
  push(item: T): T[] {
    if (item.seq <= this.lastSeq || this.held.has(item.seq)) return [];
    this.held.set(item.seq, item);
    return this.started ? this.drain() : [];
  }

  /** Records that the server has messages up to `seq` (they may not have arrived yet). */
  note(seq: number) {
    if (seq > this.known) this.known = seq;
  }

  /** The hole to fill before anything held can go out: seqs after `after` up to `upTo`, or null. */
  missing(): { after: number; upTo: number } | null {
    if (!this.started) return null;
    let lowestHeld = Infinity;
    for (const seq of this.held.keys()) if (seq < lowestHeld) lowestHeld = seq;
    const upTo = Math.max(this.known, lowestHeld === Infinity ? -1 : lowestHeld - 1);
    return upTo > this.lastSeq ? { after: this.lastSeq, upTo } : null;
  }

  /** Gives up on the seqs up to `seq` (they cannot be had) and returns what that releases. */
  skipTo(seq: number): T[] {
    if (seq > this.lastSeq) this.lastSeq = seq;
    for (const held of this.held.keys()) if (held <= this.lastSeq) this.held.delete(held);
    return this.drain();
  }

  get heldCount() {
    return this.held.size;
  }

  private drain(): T[] {
    const out: T[] = [];
    for (let next = this.held.get(this.lastSeq + 1); next; next = this.held.get(this.lastSeq + 1)) {
      this.held.delete(next.seq);
      this.lastSeq = next.seq;
      out.push(next);
    }
    return out;
  }
}
