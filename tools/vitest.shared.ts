/**
 * The vitest settings every package shares. A package's vitest.config.ts merges this with its own
 * `defineProject({ test: { name } })`. The setup file selects the tfjs backend from
 * SIMCLR_TEST_BACKEND (cpu by default) and registers the allclose matcher.
 */
import { polyfilled } from "./node20-polyfills.ts"
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

if (!polyfilled) throw new Error("node20-polyfills did not load")

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: [
      fileURLToPath(new URL("./node20-polyfills.ts", import.meta.url)),
      fileURLToPath(new URL("./test-utils/dist/setup.js", import.meta.url))
    ],
    // tfjs keeps one global engine per process; a fork per file keeps files independent.
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
