// Runs fuzz properties: seed and scale from the environment, fc.assert with case counts, and the per-file summary line.
//
// Run with `npm test`, or only these files: DATABASE_URL=postgres://… npx vitest run tests/fuzz.
// FUZZ_SEED=<n> generates the same cases again (each file prints its seed), FUZZ_RUNS=<factor> scales
// the run counts, FUZZ_KEEP_GOING=1 lists every distinct failure instead of stopping at the first.
import fc from "fast-check";

/** FUZZ_SEED reproduces a run; without it each run picks (and prints) its own. */
export const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) | 0 : Math.floor(Math.random() * 2 ** 31);
/** FUZZ_RUNS scales every property's run count (0.1 for a smoke run, 10 for a long one). */
export const SCALE = process.env.FUZZ_RUNS ? Math.max(0, Number(process.env.FUZZ_RUNS)) : 1;
/** FUZZ_KEEP_GOING=1 records failures and carries on, then lists each distinct one (no shrinking). */
const KEEP_GOING = process.env.FUZZ_KEEP_GOING === "1";

/** A property violation. `signature` names the kind of failure (no ids), so repeats can be grouped. */
export class FuzzFailure extends Error {
  override name = "FuzzFailure";
  constructor(
    readonly signature: string,
    detail: string,
  ) {
    super(`${signature}\n${detail}`);
  }
}

/** Counts the requests and frames each file sends, by property. */
export class Tally {
  private readonly counts = new Map<string, number>();
  private readonly started = performance.now();
  private skipped = 0;

  constructor(readonly file: string) {
    console.log(`fuzz: ${file} starting, seed ${SEED}${SCALE !== 1 ? `, FUZZ_RUNS ${SCALE}` : ""}`);
  }

  add(label: string, n = 1) {
    this.counts.set(label, (this.counts.get(label) ?? 0) + n);
  }

  /** Generated requests not sent (a URL no deployment would pass on); not counted as cases. */
  skip(n: number) {
    this.skipped += n;
  }

  total() {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  summary() {
    const parts = [...this.counts].map(([label, n]) => `${label} ${n}`).join(", ");
    const secs = ((performance.now() - this.started) / 1000).toFixed(1);
    const skipped = this.skipped ? `; ${this.skipped} generated requests not sent: URL over 16 KiB` : "";
    return `fuzz: ${this.file} ${this.total()} cases, seed ${SEED}, ${secs} s (${parts}${skipped})`;
  }
}

/** Scales a property's default run count by FUZZ_RUNS. */
export function runs(n: number) {
  return Math.max(1, Math.round(n * SCALE));
}

/**
 * Checks `property` on `numRuns` generated values. A failure is shrunk and reported by fast-check with
 * the seed, the path and the smallest counterexample (the default verbosity prints exactly that).
 */
export async function fuzz<T>(arb: fc.Arbitrary<T>, numRuns: number, property: (value: T) => Promise<void>, timeLimitMs = 120_000) {
  const failures = new Map<string, { count: number; first: string }>();
  const checked = KEEP_GOING
    ? async (value: T) => {
        try {
          await property(value);
        } catch (err) {
          if (!(err instanceof FuzzFailure)) throw err;
          const seen = failures.get(err.signature);
          if (seen) seen.count++;
          else failures.set(err.signature, { count: 1, first: err.message });
        }
      }
    : property;
  await fc.assert(fc.asyncProperty(arb, checked), {
    seed: SEED,
    numRuns,
    // Shrinking replays requests against the live Worker; a hang can make that slow, so it is bounded,
    // and a run cut short by the limit counts as a failure rather than silently testing less.
    interruptAfterTimeLimit: timeLimitMs,
    markInterruptAsFailure: true,
  });
  if (failures.size > 0) {
    const list = [...failures.values()].map((f, i) => `#${i + 1} (${f.count}×) ${f.first}`).join("\n\n");
    throw new Error(`${failures.size} distinct failures:\n\n${list}`);
  }
}

/** Shortens text for a report: the start, and how long it was. */
export function clip(text: string, max = 400): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}

/** Ids vary from run to run; signatures should not. */
export function genericIds(text: string): string {
  return text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<uuid>").replace(/fz[a-z]?-[a-z]+-[0-9a-f]{6}/g, "<user>");
}
