import { defineProject, mergeConfig } from "vitest/config"
import shared from "../vitest.shared.ts"

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "@simclr/reliability",
      // The flags the simclr bin starts Node with (its #! line), plus --expose-gc: the memory test
      // samples RSS after a full collection.
      execArgv: ["--single-threaded-gc", "--max-semi-space-size=64", "--expose-gc"],
      // Each file drives whole training runs; the memory test alone runs 1,000 steps.
      testTimeout: 3_600_000,
      // One file at a time: each trains on both cores, and the memory test's speed is reported.
      fileParallelism: false,
      hookTimeout: 600_000
    }
  })
)
