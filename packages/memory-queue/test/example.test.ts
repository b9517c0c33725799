/** The README's example, examples/queue.mjs, runs as a user would run it (node, cpu backend). */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { expect, it } from "vitest"

it("examples/queue.mjs runs: the queue fills, the tensor count stays flat, the state round-trips, nothing is left", () => {
  const dir = fileURLToPath(new URL("..", import.meta.url))
  const out = execFileSync("node", ["examples/queue.mjs"], { cwd: dir, encoding: "utf8" })
  const lines = out.trim().split("\n")
  const result = JSON.parse(lines.at(-1)!) as { firstLoss: number; lastLoss: number; filled: number; pointer: number; restoredEqual: boolean; tensorsLeft: number }
  // 60 steps of 64 keys into 256 rows: full, and the pointer back at 60·64 mod 256 = 0.
  expect({ filled: result.filled, pointer: result.pointer, restoredEqual: result.restoredEqual, tensorsLeft: result.tensorsLeft }).toEqual({ filled: 256, pointer: 0, restoredEqual: true, tensorsLeft: 0 })
  // No negatives at step 0; afterwards InfoNCE with 256 negatives is below chance, ln 257.
  expect(result.firstLoss).toBe(0)
  expect(result.lastLoss).toBeGreaterThan(0)
  expect(result.lastLoss).toBeLessThan(Math.log(257))
  const counts = lines.filter((l) => l.startsWith("step ")).map((l) => Number(/(\d+) tensors$/.exec(l)![1]))
  expect(counts.length).toBe(5)
  expect(new Set(counts).size).toBe(1)
})
