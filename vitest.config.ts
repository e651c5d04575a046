// Tests run in Node and drive the real Worker (wrangler dev / workerd) over real HTTP and sockets.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/setup/global.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One shared Worker and database; files run in parallel against it.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
