import { fileURLToPath } from "node:url"
import { defineProject } from "vitest/config"
import { polyfilled } from "../node20-polyfills.ts"

if (!polyfilled) throw new Error("node20-polyfills did not load")

// No shared setup file: these tests drive npm and node in child processes and never load tfjs here.
export default defineProject({
  test: {
    name: "@simclr/pack-check",
    include: ["test/**/*.test.ts"],
    setupFiles: [fileURLToPath(new URL("../node20-polyfills.ts", import.meta.url))],
    // beforeAll packs and installs from the registry: on a cold npm cache that takes well over 10 s.
    testTimeout: 600_000,
    hookTimeout: 600_000
  }
})
