// Tests run in Node and drive the real Worker (wrangler dev / workerd) over real HTTP and sockets.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["tests/setup/global.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One shared Worker and database; files run in parallel against it.
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: "suite", include: ["tests/{unit,e2e,regression}/**/*.test.ts"], exclude: ["tests/e2e/rate-overload.test.ts"] } },
      // Ten times the rate limits for a minute loads the machine flat out, and the limits are
      // measured to ±1 %: alone, after the suite (alongside it, other files' Workers timed out).
      { extends: true, test: { name: "overload", include: ["tests/e2e/rate-overload.test.ts"], sequence: { groupOrder: 1 } } },
      // The fuzz suite loads the machine flat out: it runs after the rest, so timing-sensitive tests
      // (rate limits, idle alarms) never share the cores with it.
      { extends: true, test: { name: "fuzz", include: ["tests/fuzz/**/*.test.ts"], sequence: { groupOrder: 2 } } },
      // The chat page in Chromium: last, one file at a time, each with its own Worker (the demo agents)
      // and browser, so neither Chromium nor the fuzz run shares the cores with the other.
      {
        extends: true,
        test: { name: "browser", include: ["tests/browser/**/*.test.ts"], fileParallelism: false, testTimeout: 60_000, sequence: { groupOrder: 3 } },
      },
    ],
  },
});
