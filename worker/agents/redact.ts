// Redaction: masks card numbers and IBANs in customer text before it is stored or sent to an agent.
//
// Candidates are found by one pass over digit (or alphanumeric) groups and confirmed by their own
// checksum (Luhn, ISO 13616 mod-97), so order and phone numbers stay readable. No backtracking
// regex: each group starts at most a bounded number of candidates (a card is at most 19 digits, an
// IBAN at most 34 characters), so the cost is linear in the text even for 100 KB of digits.

export type RedactionKind = "card" | "iban";
export interface Redaction {
  kind: RedactionKind;
  count: number;
}

interface Span {
  start: number;
  end: number;
}

interface Group extends Span {
  /** Neither neighbour is a letter or digit, so the group is a whole token on its own. */
  clean: boolean;
}

const MASK = "*";
const KEEP_TAIL = 4;
const alnum = /[\p{L}\p{N}]/u;

function isAlnumAt(text: string, i: number): boolean {
  const c = text[i];
  return c !== undefined && alnum.test(c);
}

function groupsOf(text: string, pattern: RegExp): Group[] {
  const groups: Group[] = [];
  for (const m of text.matchAll(pattern)) {
    const start = m.index;
    const end = start + m[0].length;
    groups.push({ start, end, clean: !isAlnumAt(text, start - 1) && !isAlnumAt(text, end) });
  }
  return groups;
}

/** Two groups belong to one number only when a single separator stands between them. */
function linked(text: string, a: Group, b: Group, separators: string): boolean {
  return b.start === a.end + 1 && separators.includes(text[a.end] ?? "");
}

function luhn(text: string, span: Span): boolean {
  let sum = 0;
  let double = false;
  for (let i = span.end - 1; i >= span.start; i--) {
    const code = text.charCodeAt(i);
    if (code < 48 || code > 57) continue;
    let d = code - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

// A longest-first search from each group: "4111 1111 1111 1111 12/25" still masks the card even
// though the expiry month continues the digit run, while a number glued to other digits or letters
// ("94111111111111111", "4111111111111111x") is one token that fails and is left alone.
function findCards(text: string): Span[] {
  const groups = groupsOf(text, /[0-9]+/g);
  const found: Span[] = [];
  let i = 0;
  while (i < groups.length) {
    const first = groups[i];
    if (!first?.clean) {
      i++;
      continue;
    }
    // Ends reachable from `first` with at most 19 digits, in order.
    const ends: { index: number; digits: number }[] = [];
    let digits = 0;
    for (let j = i; j < groups.length; j++) {
      const g = groups[j];
      if (!g?.clean) break;
      if (j > i) {
        const prev = groups[j - 1];
        if (!prev || !linked(text, prev, g, " -")) break;
      }
      digits += g.end - g.start;
      if (digits > 19) break;
      if (digits >= 13) ends.push({ index: j, digits });
    }
    let matched = -1;
    for (let k = ends.length - 1; k >= 0; k--) {
      const last = groups[ends[k]?.index ?? -1];
      if (last && luhn(text, { start: first.start, end: last.end })) {
        found.push({ start: first.start, end: last.end });
        matched = ends[k]?.index ?? -1;
        break;
      }
    }
    i = matched >= 0 ? matched + 1 : i + 1;
  }
  return found;
}

/** ISO 13616: move the first four characters to the end, letters to 10..35, and the number mod 97 is 1. */
function ibanChecks(text: string, span: Span): boolean {
  const chars: number[] = [];
  for (let i = span.start; i < span.end; i++) {
    const c = text.charCodeAt(i) | 0x20; // lower-cases letters; digits and space are unaffected
    if (c === 0x20) continue;
    chars.push(c);
  }
  const rearranged = [...chars.slice(4), ...chars.slice(0, 4)];
  let rest = 0;
  for (const c of rearranged) {
    rest = c <= 57 ? (rest * 10 + (c - 48)) % 97 : (rest * 100 + (c - 97 + 10)) % 97;
  }
  return rest === 1;
}

const ibanHead = /^[A-Za-z]{2}[0-9]{2}/;

// An IBAN is written either as one token or in groups of four with a short last group. The same
// longest-first search as for cards lets "BE68 5390 0754 7034 text" end before "text".
function findIbans(text: string): Span[] {
  const groups = groupsOf(text, /[A-Za-z0-9]+/g);
  const found: Span[] = [];
  let i = 0;
  while (i < groups.length) {
    const first = groups[i];
    const len = first ? first.end - first.start : 0;
    if (!first?.clean || !ibanHead.test(text.slice(first.start, first.start + 4))) {
      i++;
      continue;
    }
    let matched = -1;
    if (len >= 15 && len <= 34) {
      if (ibanChecks(text, first)) matched = i;
    } else if (len === 4) {
      const ends: number[] = [];
      let chars = 4;
      for (let j = i + 1; j < groups.length; j++) {
        const g = groups[j];
        const prev = groups[j - 1];
        if (!g?.clean || !prev || !linked(text, prev, g, " ")) break;
        const size = g.end - g.start;
        if (size > 4) break;
        chars += size;
        if (chars > 34) break;
        if (chars >= 15) ends.push(j);
        if (size < 4) break;
      }
      for (let k = ends.length - 1; k >= 0; k--) {
        const last = groups[ends[k] ?? -1];
        if (last && ibanChecks(text, { start: first.start, end: last.end })) {
          matched = ends[k] ?? -1;
          break;
        }
      }
    }
    if (matched >= 0) {
      const last = groups[matched];
      if (last) found.push({ start: first.start, end: last.end });
      i = matched + 1;
    } else {
      i++;
    }
  }
  return found;
}

function isMaskable(code: number): boolean {
  return (code >= 48 && code <= 57) || ((code | 0x20) >= 97 && (code | 0x20) <= 122);
}

/** Masks every digit or letter in the span except the first `keepHead` and the last four. */
function mask(text: string, span: Span, keepHead: number): string {
  let tail = 0;
  let from = span.end;
  while (from > span.start && tail < KEEP_TAIL) {
    from--;
    if (isMaskable(text.charCodeAt(from))) tail++;
  }
  let out = "";
  for (let i = span.start; i < from; i++) {
    const c = text[i] ?? "";
    out += i - span.start >= keepHead && isMaskable(text.charCodeAt(i)) ? MASK : c;
  }
  return out + text.slice(from, span.end);
}

function overlaps(a: Span, spans: readonly Span[]): boolean {
  return spans.some((b) => a.start < b.end && b.start < a.end);
}

export function redact(text: string, kinds: ReadonlySet<RedactionKind>): { text: string; redactions: Redaction[] } {
  if (kinds.size === 0) return { text, redactions: [] };
  // IBANs are found even when only cards are masked: a valid IBAN's digits can pass Luhn, and
  // masking them as a card would misreport the kind and mangle a number the caller chose to keep.
  const ibans = findIbans(text);
  const cards = kinds.has("card") ? findCards(text).filter((c) => !overlaps(c, ibans)) : [];
  const masked: { span: Span; keepHead: number }[] = [
    ...cards.map((span) => ({ span, keepHead: 0 })),
    ...(kinds.has("iban") ? ibans.map((span) => ({ span, keepHead: 2 })) : []),
  ].sort((a, b) => a.span.start - b.span.start);
  if (masked.length === 0) return { text, redactions: [] };

  let out = "";
  let at = 0;
  for (const { span, keepHead } of masked) {
    out += text.slice(at, span.start) + mask(text, span, keepHead);
    at = span.end;
  }
  out += text.slice(at);

  const redactions: Redaction[] = [];
  if (cards.length > 0) redactions.push({ kind: "card", count: cards.length });
  if (kinds.has("iban") && ibans.length > 0) redactions.push({ kind: "iban", count: ibans.length });
  return { text: out, redactions };
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isLetter = (c: string | undefined) => c !== undefined && ((c >= "A" && c <= "Z") || (c >= "a" && c <= "z"));
const isAlnum = (c: string | undefined) => isDigit(c) || isLetter(c);
/** Longer than any IBAN written in groups (34 characters and their spaces). */
const IBAN_WINDOW = 48;

/**
 * Where the part of a streamed text that can no longer change by what follows ends: before a run of
 * digits with single spaces or dashes at its end (a card number may be forming), or before an IBAN so
 * far (two letters, two check digits, then letters and digits with single spaces), or the start of
 * one (a one- or two-letter word at the very end, maybe with its digits). Scans from the end, in time
 * bounded by the digit run plus a fixed window: no regex, so no backtracking on long input.
 */
function settledUntil(text: string): number {
  // Half of a surrogate pair waits for its other half.
  const last = text.charCodeAt(text.length - 1);
  let cut = last >= 0xd800 && last <= 0xdbff ? text.length - 1 : text.length;
  // Digits with single separators, allowing one trailing separator.
  let i = cut;
  if (i > 0 && (text[i - 1] === " " || text[i - 1] === "-") && isDigit(text[i - 2])) i--;
  let digitStart = -1;
  while (i > 0 && isDigit(text[i - 1])) {
    i--;
    digitStart = i;
    if (i > 1 && (text[i - 1] === " " || text[i - 1] === "-") && isDigit(text[i - 2])) i--;
  }
  if (digitStart >= 0) cut = digitStart;
  // An IBAN so far ending where the held part starts (its digits may be what is held): the earliest
  // head in the window before the cut whose rest, up to the cut, fits the shape.
  for (let p = Math.max(0, cut - IBAN_WINDOW); p < cut; p++) {
    if (!isLetter(text[p]) || isAlnum(text[p - 1])) continue;
    if (fitsIbanSoFar(text, p, cut)) {
      cut = p;
      break;
    }
  }
  return cut;
}

/** text[p, end) is the start of an IBAN: two letters, two digits, then letters and digits with single spaces. */
function fitsIbanSoFar(text: string, p: number, end: number): boolean {
  const shape = [isLetter, isLetter, isDigit, isDigit];
  let k = 0;
  for (let j = p; j < end; j++) {
    const c = text[j]!;
    if (k < 4) {
      if (!shape[k]!(c)) return false;
      k++;
    } else if (c === " ") {
      if (text[j - 1] === " ") return false;
    } else if (!isAlnum(c)) return false;
  }
  return true;
}

/**
 * Redaction for text that arrives in pieces (an agent's streamed reply): each piece is masked before
 * it is passed on, holding back the end of the text while a card number or IBAN could still be
 * forming there (no match can cross the point where the held part starts). The pieces passed on, put
 * together, are what redact() makes of the whole text.
 */
export class StreamRedactor {
  private held = "";
  private readonly counts = new Map<RedactionKind, number>();

  constructor(private readonly kinds: ReadonlySet<RedactionKind>) {}

  /** The masked text that can be passed on now ("" while all of it is held). */
  push(piece: string): string {
    if (this.kinds.size === 0) return piece;
    const text = this.held + piece;
    const cut = settledUntil(text);
    this.held = text.slice(cut);
    return this.mask(text.slice(0, cut));
  }

  /** The stream ended: what was held, masked. */
  end(): string {
    const rest = this.held;
    this.held = "";
    return this.mask(rest);
  }

  /** What was masked so far, as redact() reports it. */
  redactions(): Redaction[] {
    return (["card", "iban"] as const).flatMap((kind) => (this.counts.has(kind) ? [{ kind, count: this.counts.get(kind)! }] : []));
  }

  private mask(text: string): string {
    if (text === "") return "";
    const result = redact(text, this.kinds);
    for (const r of result.redactions) this.counts.set(r.kind, (this.counts.get(r.kind) ?? 0) + r.count);
    return result.text;
  }
}
