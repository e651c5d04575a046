// messages.search cursors: every cursor the server writes reads back as the same rank and id.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeSearchCursor, encodeSearchCursor } from "../../db/queries/search";

describe("search cursors", () => {
  it("read back exactly for every rank in [0, 1), including those String() writes with 22 decimals", () => {
    // Found by the fuzz suite: 1.0000000047374802e-6 is written "0.0000010000000047374802", which the
    // reader refused (it allowed 20 decimals), so page two of such a search was a 400.
    const id = "0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90";
    expect(decodeSearchCursor(encodeSearchCursor({ rank: 1.0000000047374802e-6, id }))).toEqual({ rank: 1.0000000047374802e-6, id });
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }).filter((r) => r === 0 || r >= 1e-300), fc.uuid(), (rank, uuid) => {
        expect(decodeSearchCursor(encodeSearchCursor({ rank, id: uuid }))).toEqual({ rank, id: uuid.toLowerCase() });
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses what the server never writes", () => {
    for (const text of ["1|0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90", "0.50|0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90", "-0|0b7f6f3e-2d4c-4f8e-9a51-6f0d3c2b1a90", "0.5|nope"]) {
      expect(decodeSearchCursor(btoa(text))).toBeNull();
    }
    expect(decodeSearchCursor("%%%")).toBeNull();
  });
});
