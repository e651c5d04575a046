// redact(): card numbers and IBANs masked by checksum, everything else left as the customer wrote it.
import { describe, expect, it } from "vitest";
import { redact } from "../../worker/agents/redact";
import type { RedactionKind } from "../../worker/agents/redact";

const both = new Set<RedactionKind>(["card", "iban"]);
const cards = new Set<RedactionKind>(["card"]);
const ibans = new Set<RedactionKind>(["iban"]);
const masked = (text: string, kinds: ReadonlySet<RedactionKind> = both): string => redact(text, kinds).text;

describe("cards", () => {
  it("masks all but the last four digits of Luhn-valid numbers and keeps the separators", () => {
    expect(redact("4111 1111 1111 1111", cards)).toEqual({ text: "**** **** **** 1111", redactions: [{ kind: "card", count: 1 }] });
    expect(masked("4111-1111-1111-1111")).toBe("****-****-****-1111");
    expect(masked("4111111111111111")).toBe("************1111");
    expect(masked("378282246310005")).toBe("***********0005");
    expect(masked("3782 822463 10005")).toBe("**** ****** *0005");
    expect(masked("4222222222222")).toBe("*********2222"); // 13 digits
    expect(masked("6212345678901234569")).toBe("***************4569"); // 19 digits
  });

  it("leaves numbers that fail Luhn alone: order numbers, phone numbers", () => {
    const text = "Order 4111 1111 1111 1112, call +1 415 555 0100 or 0044 20 7946 0958 1234";
    expect(redact(text, both)).toEqual({ text, redactions: [] });
  });

  it("masks cards inside sentences and counts several matches", () => {
    const { text, redactions } = redact("My card is 4111 1111 1111 1111, or try 5555-5555-5555-4444 (Amex 378282246310005).", both);
    expect(text).toBe("My card is **** **** **** 1111, or try ****-****-****-4444 (Amex ***********0005).");
    expect(redactions).toEqual([{ kind: "card", count: 3 }]);
  });

  it("does not mask a valid number glued to other digits or letters", () => {
    for (const text of ["94111111111111111", "41111111111111112", "x4111111111111111", "4111111111111111x", "ab4111 1111 1111 1111", "4111 1111 1111 1111cd"]) {
      expect(redact(text, both)).toEqual({ text, redactions: [] });
    }
    // Too long to be one card: 20 digits with no grouping.
    expect(masked("41111111111111110000")).toBe("41111111111111110000");
  });

  it("does not let a double space or a mixed-up separator join groups into a card", () => {
    expect(masked("4111  1111 1111 1111")).toBe("4111  1111 1111 1111");
    expect(masked("4111 -1111 1111 1111")).toBe("4111 -1111 1111 1111");
    expect(masked("4111.1111.1111.1111")).toBe("4111.1111.1111.1111");
  });

  it("still masks a card when an expiry date or CVV continues the digit run", () => {
    expect(masked("4111 1111 1111 1111 12/25 123")).toBe("**** **** **** 1111 12/25 123");
    expect(masked("card 4111 1111 1111 1111 123")).toBe("card **** **** **** 1111 123");
  });

  it("takes the longest valid number, so a 19-digit card is not cut short at a valid 16-digit prefix", () => {
    expect(masked("6212 3456 7890 1234 569")).toBe("**** **** **** ***4 569");
    expect(masked("4111 1111 1111 1111 003")).toBe("**** **** **** ***1 003");
  });

  it("masks only cards when only cards are asked for", () => {
    const text = "4111 1111 1111 1111 to DE89 3704 0044 0532 0130 00";
    expect(redact(text, cards)).toEqual({ text: "**** **** **** 1111 to DE89 3704 0044 0532 0130 00", redactions: [{ kind: "card", count: 1 }] });
  });
});

describe("ibans", () => {
  it("masks IBANs from several countries, keeping the country and the last four characters", () => {
    expect(redact("DE89 3704 0044 0532 0130 00", ibans)).toEqual({ text: "DE** **** **** **** **30 00", redactions: [{ kind: "iban", count: 1 }] });
    expect(masked("GB82 WEST 1234 5698 7654 32")).toBe("GB** **** **** **** **54 32");
    expect(masked("FR14 2004 1010 0505 0001 3M02 606")).toBe("FR** **** **** **** **** ***2 606");
    expect(masked("NL91 ABNA 0417 1643 00")).toBe("NL** **** **** **43 00");
    expect(masked("NL91ABNA0417164300")).toBe("NL************4300");
  });

  it("is case-insensitive and keeps the case the customer used", () => {
    expect(masked("gb82 west 1234 5698 7654 32")).toBe("gb** **** **** **** **54 32");
    expect(masked("de89370400440532013000")).toBe("de****************3000");
  });

  it("leaves an IBAN with a wrong check alone", () => {
    for (const text of ["DE88 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 33", "NL91ABNA0417164301"]) {
      expect(redact(text, both)).toEqual({ text, redactions: [] });
    }
  });

  it("finds IBANs in sentences and stops before a following word", () => {
    const { text, redactions } = redact("Pay to BE68 5390 0754 7034 today, or DE89370400440532013000. Thanks", both);
    expect(text).toBe("Pay to BE** **** **** 7034 today, or DE****************3000. Thanks");
    expect(redactions).toEqual([{ kind: "iban", count: 2 }]);
    expect(masked("IBAN: BE68 5390 0754 7034 text")).toBe("IBAN: BE** **** **** 7034 text");
  });

  it("does not mask an IBAN glued to other letters or digits", () => {
    for (const text of ["XDE89370400440532013000", "DE893704004405320130001", "DE89 3704 0044 0532 0130 00X1"]) {
      expect(masked(text, ibans)).toBe(text);
    }
  });

  it("leaves IBANs alone, and does not mistake their digits for a card, when only cards are asked for", () => {
    // The 18 digits after "DE62 " pass Luhn on their own.
    const text = "DE62 3704 0044 0532 0130 01 and GB82 WEST 1234 5698 7654 32";
    expect(redact(text, cards)).toEqual({ text, redactions: [] });
    expect(redact(text, both)).toEqual({ text: "DE** **** **** **** **30 01 and GB** **** **** **** **54 32", redactions: [{ kind: "iban", count: 2 }] });
  });
});

describe("redact", () => {
  it("lists cards before IBANs whatever order they appear in", () => {
    const { text, redactions } = redact("IBAN GB82 WEST 1234 5698 7654 32, card 4111-1111-1111-1111", both);
    expect(text).toBe("IBAN GB** **** **** **** **54 32, card ****-****-****-1111");
    expect(redactions).toEqual([
      { kind: "card", count: 1 },
      { kind: "iban", count: 1 },
    ]);
  });

  it("returns the same string and no redactions when both kinds are disabled or nothing matches", () => {
    const withData = "4111 1111 1111 1111 DE89 3704 0044 0532 0130 00";
    const none = redact(withData, new Set());
    expect(none.text).toBe(withData);
    expect(none.redactions).toEqual([]);

    const plain = "Hello, my order 12345 arrived on 2024-05-01. Call 0800 123 4567.";
    const result = redact(plain, both);
    expect(result.text).toBe(plain);
    expect(result.redactions).toEqual([]);
    expect(redact("", both)).toEqual({ text: "", redactions: [] });
  });

  it("stays linear on 100 KB of digits, spaces and dashes", () => {
    const inputs = [
      "1 ".repeat(50_000),
      "4111 ".repeat(20_000),
      "12-".repeat(33_000),
      "9".repeat(100_000),
      Array.from({ length: 100_000 }, (_, i) => (i % 7 === 6 ? " " : String((i * 7919) % 10))).join(""),
      "DE89 ".repeat(20_000),
    ];
    const started = Date.now();
    for (const text of inputs) redact(text, both);
    expect(Date.now() - started).toBeLessThan(2000);
    // Many cards in a long text are all found.
    const many = "4111 1111 1111 1111 ".repeat(5_000);
    expect(redact(many, both).redactions).toEqual([{ kind: "card", count: 5_000 }]);
  });
});
