// SeqBuffer: messages come out once each, in seq order, and holes are reported until filled or skipped.
import { describe, expect, it } from "vitest";
import { SeqBuffer } from "../../client/seq-buffer";

const m = (seq: number) => ({ seq });
const seqs = (items: { seq: number }[]) => items.map((x) => x.seq);

describe("SeqBuffer", () => {
  it("delivers in order, drops duplicates and holds what comes early until the hole is filled", () => {
    const b = new SeqBuffer(0);
    expect(seqs(b.push(m(1)))).toEqual([1]);
    expect(b.push(m(1))).toEqual([]);
    expect(b.push(m(3))).toEqual([]);
    expect(b.push(m(3))).toEqual([]);
    expect(b.missing()).toEqual({ after: 1, upTo: 2 });
    expect(seqs(b.push(m(2)))).toEqual([2, 3]);
    expect(b.missing()).toBeNull();
    expect(b.lastSeq).toBe(3);
  });

  it("holds everything until it knows where to start, then drops what is before it", () => {
    const b = new SeqBuffer<{ seq: number }>();
    expect(b.started).toBe(false);
    expect(b.push(m(5))).toEqual([]);
    expect(b.push(m(6))).toEqual([]);
    expect(b.missing()).toBeNull();
    expect(seqs(b.start(5))).toEqual([6]);
    // A second start does not move it back.
    expect(b.start(2)).toEqual([]);
    expect(b.lastSeq).toBe(6);
  });

  it("reports what the server said exists (resync) as missing until it arrives", () => {
    const b = new SeqBuffer(10);
    b.note(130);
    expect(b.missing()).toEqual({ after: 10, upTo: 130 });
    expect(b.push(m(131))).toEqual([]);
    expect(b.missing()).toEqual({ after: 10, upTo: 130 });
    const delivered = [...Array.from({ length: 120 }, (_, i) => b.push(m(130 - i))).flat()];
    expect(seqs(delivered)).toEqual(Array.from({ length: 121 }, (_, i) => 11 + i));
    expect(b.missing()).toBeNull();
  });

  it("skips a hole that cannot be filled and releases what waited behind it", () => {
    const b = new SeqBuffer(0);
    b.push(m(4));
    b.push(m(5));
    expect(b.heldCount).toBe(2);
    expect(seqs(b.skipTo(3))).toEqual([4, 5]);
    expect(b.heldCount).toBe(0);
    expect(b.push(m(2))).toEqual([]);
  });
});
