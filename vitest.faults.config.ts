// The fault run (`npm run test:faults`): one long test that breaks the system on purpose; not part of `npm test`.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["tests/setup/global.ts"],
    include: ["tests/faults/**/*.test.ts"],
    testTimeout: 600_000,
    hookTimeout: 60_000,
  },
});
