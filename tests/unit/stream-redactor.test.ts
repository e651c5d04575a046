// StreamRedactor: a reply masked piece by piece comes out as redact() makes of the whole, however it is cut.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StreamRedactor, redact, type RedactionKind } from "../../worker/agents/redact";

const both = new Set<RedactionKind>(["card", "iban"]);

function streamed(pieces: string[], kinds = both) {
  const r = new StreamRedactor(kinds);
  const out = pieces.map((p) => r.push(p));
  out.push(r.end());
  return { out, text: out.join(""), redactions: r.redactions() };
}

/** `text` cut at the given offsets. */
const cut = (text: string, at: number[]) => {
  const points = [...new Set(at.map((a) => a % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(text.slice(from, p));
    from = p;
  }
  pieces.push(text.slice(from));
  return pieces;
};

const samples = [
  "Your card 4111 1111 1111 1111 is blocked.",
  "Send it to DE89 3704 0044 0532 0130 00 by Friday",
  "GB82 WEST 1234 5698 7654 32 and 378282246310005, then 5555-5555-5555-4444",
  "Order 12345 costs €1,234.56; call 0044 20 7946 0958",
  "card:4111111111111111",
  "nothing to hide here",
  "ends with a card 4111 1111 1111 1111",
  // An IBAN longer than the window, ending in digits; one followed by a dash; a long Belgian one.
  "pay BE68 5390 0754 7034 1234 5678 9012 3456 7890 1234 now",
  "to DE89 3704 0044 0532 0130 00-ref",
  "iban: BE68539007547034, thanks",
];

describe("StreamRedactor", () => {
  it("never lets a card number or IBAN out, however the reply is cut", () => {
    fc.assert(
      fc.property(fc.constantFrom(...samples), fc.array(fc.nat(200), { maxLength: 12 }), (text, at) => {
        const whole = redact(text, both);
        const s = streamed(cut(text, at));
        expect(s.text).toBe(whole.text);
        expect(s.redactions).toEqual(whole.redactions);
        for (const piece of s.out) expect(piece).not.toMatch(/4111 1111 1111 1111|3704 0044|WEST 1234|378282246310005|5555-5555-5555-4444|5390 0754|539007547034/);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it("character by character too", () => {
    for (const text of samples) expect(streamed([...text]).text).toBe(redact(text, both).text);
  });

  it("passes ordinary text on at once, holding back only what could still become a number", () => {
    const r = new StreamRedactor(both);
    expect(r.push("Your balance ")).toBe("Your balance ");
    expect(r.push("is 1,2")).toBe("is 1,");
    expect(r.push("34.56 today")).toBe("234.56 today");
    expect(r.push(" at 41")).toBe(" at ");
    expect(r.end()).toBe("41");
  });

  it("keeps a surrogate pair split across pieces whole", () => {
    const r = new StreamRedactor(both);
    const emoji = "🙂";
    expect(r.push(`hi ${emoji[0]}`)).toBe("hi ");
    expect(r.push(`${emoji[1]} there`)).toBe(`${emoji} there`);
  });

  it("with nothing to mask it passes pieces through", () => {
    const r = new StreamRedactor(new Set());
    expect(r.push("4111 1111 1111 1111")).toBe("4111 1111 1111 1111");
  });
});
