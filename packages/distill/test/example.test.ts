/** The README's example, examples/distill.mjs, runs as a user would run it (node, cpu backend). */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { expect, it } from "vitest"

// The example trains two small ResNets for 40 steps on the cpu backend: ~70 s on a quiet 2-core machine,
// twice that while CI runs other packages' tests beside it, so it gets a longer guard than the 120 s default.
it("examples/distill.mjs runs: the loss falls, the tensor count stays flat, nothing is left", { timeout: 480_000 }, () => {
  const dir = fileURLToPath(new URL("..", import.meta.url))
  const out = execFileSync("node", ["examples/distill.mjs"], { cwd: dir, encoding: "utf8" })
  const lines = out.trim().split("\n")
  const result = JSON.parse(lines.at(-1)!) as { firstLoss: number; lastLoss: number; agreement: number; tensorsLeft: number }
  expect(result.tensorsLeft).toBe(0)
  expect(Number.isFinite(result.firstLoss) && Number.isFinite(result.lastLoss)).toBe(true)
  expect(result.lastLoss).toBeLessThan(result.firstLoss)
  // The student learns the teacher's argmax on more images than chance (1/4 with four classes).
  expect(result.agreement).toBeGreaterThan(0.25)
  const steps = lines.filter((l) => l.startsWith("step "))
  expect(steps.length).toBe(5)
  const counts = steps.map((l) => Number(/(\d+) tensors$/.exec(l)![1]))
  expect(new Set(counts).size).toBe(1)
  // Every step reports kept images out of 16, and the threshold drops some somewhere.
  const kept = steps.map((l) => Number(/kept (\d+)\/16/.exec(l)![1]))
  expect(kept.every((k) => k >= 0 && k <= 16)).toBe(true)
  expect(kept.some((k) => k < 16)).toBe(true)
})
