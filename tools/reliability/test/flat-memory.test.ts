/**
 * Flat memory: 1,000 SimCLR pre-training steps of the `simclr demo` network and recipe (its 5,000 gray
 * synthetic shapes, batch 128, Adam, its augmentations, the online probe) in this one process, through
 * `pretrain` as the CLI runs it (the data stream, two augmented views per step, the step itself, a
 * metrics line per step and a checkpoint every epoch), with `tf.memory().numTensors` read after every
 * step and the process's resident set size (RSS) after every 10th step, each time after a full garbage
 * collection (`--expose-gc`, set in vitest.config.ts), so that RSS shows what is retained rather than
 * what is waiting to be collected.
 *
 * Criteria, after a warm-up of the first 100 steps (tfjs caches a few scalars on first use; glibc and
 * V8 grow their pools over the first epochs), RSS and heap over the second half (steps 500–1,000):
 * - numTensors: exactly the same after every step. A tensor leaked per step, however small, fails.
 * - RSS: least-squares slope at most 2 MB per 100 steps (20 KB a step, 10 MB over the half). Tensor
 *   leaks are caught exactly above; this catches native or typed-array memory kept per step from 20 KB
 *   up (one augmented 128-image view is 885 KB). The second half's RSS moves within about 2 MB here
 *   (measured: the README), so the bound is several times the noise, and a slope is not fooled by one
 *   sample's spike the way max − min would be.
 * - V8's used heap: slope at most 0.5 MB per 100 steps (5 KB a step of JavaScript objects kept, such as
 *   metrics or closures).
 */
import { synthetic } from "@simclr/data-stream"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type PretrainConfig, pretrain, pretrainPresets, selectBackend } from "simclr"
import { afterAll, describe, expect, it } from "vitest"
import { trainingBackend } from "./support.ts"

const root = mkdtempSync(join(tmpdir(), "simclr-memory-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const STEPS = 1000
/** RSS is read every this many steps. */
const EVERY = 10
/** The demo's data and recipe as `simclr demo` runs them (demo.ts): 5,000 upright gray shapes, batch 128. */
const IMAGES = 5000
const config: PretrainConfig = { ...pretrainPresets.demo(), epochs: Math.ceil((STEPS * pretrainPresets.demo().batchSize) / IMAGES), maxSteps: STEPS }

const WARMUP = 100
/** RSS and heap slopes are fitted over the second half. */
const HALF = STEPS / 2
const gc = (globalThis as { gc?: () => void }).gc
const MB = 2 ** 20

/** Least-squares slope of y against x, per 100 x. */
const slopePer100 = (points: ReadonlyArray<readonly [number, number]>): number => {
  const n = points.length
  const mx = points.reduce((s, [x]) => s + x, 0) / n
  const my = points.reduce((s, [, y]) => s + y, 0) / n
  return (100 * points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0)) / points.reduce((s, [x]) => s + (x - mx) ** 2, 0)
}

/** First, last and largest of a series, for the report. */
const span = (values: ReadonlyArray<number>, digits = 1) => `first ${values[0]!.toFixed(digits)}, last ${values.at(-1)!.toFixed(digits)}, max ${Math.max(...values).toFixed(digits)}`

interface Sample {
  readonly step: number
  readonly rss: number
  readonly heapUsed: number
  readonly arrayBuffers: number
  readonly tensorBytes: number
}

const backend = trainingBackend("wasm")

describe(`flat memory (${STEPS} steps of the demo network on ${backend.name})`, () => {
  it(`numTensors constant and RSS flat after warm-up (${backend.why})`, { timeout: 3_600_000 }, async () => {
    // vitest.config.ts starts the workers with --expose-gc.
    expect(typeof gc).toBe("function")
    const selected = await Effect.runPromise(selectBackend(backend.name))
    console.log(`flat memory: ${selected.name}, ${selected.reason}`)
    const tensors: Array<number> = []
    const samples: Array<Sample> = []
    const sample = (step: number) => {
      gc!()
      const m = process.memoryUsage()
      samples.push({ step, rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, tensorBytes: tf.memory().numBytes })
    }
    sample(0)
    const started = performance.now()
    const result = await Effect.runPromise(
      pretrain(synthetic({ size: IMAGES, seed: 0, imageSize: config.imageSize, maxRotation: 0, color: "gray" }), config, {
        out: join(root, "run"),
        onStep: (m) => {
          tensors.push(tf.memory().numTensors)
          if (m.step % EVERY === 0) sample(m.step)
        }
      })
    )
    const seconds = (performance.now() - started) / 1000
    expect([result.steps, result.ending]).toEqual([STEPS, "max-steps"])
    expect(tensors.length).toBe(STEPS)

    const rows = samples.map((s) => ({ step: s.step, "RSS MB": +(s.rss / MB).toFixed(1), "heap MB": +(s.heapUsed / MB).toFixed(1), "ArrayBuffers MB": +(s.arrayBuffers / MB).toFixed(1), "tensor MB": +(s.tensorBytes / MB).toFixed(2) }))
    console.table(rows)
    const half = samples.filter((s) => s.step >= HALF)
    const rssSlope = slopePer100(half.map((s) => [s.step, s.rss / MB]))
    const heapSlope = slopePer100(half.map((s) => [s.step, s.heapUsed / MB]))
    console.log(
      `flat memory on ${selected.name}: ${STEPS} steps in ${seconds.toFixed(0)} s; numTensors ${span(tensors, 0)} (after steps 1, 2, 10, 100, 1000: ${[1, 2, 10, 100, 1000].map((s) => tensors[s - 1]).join(", ")}); ` +
        `RSS MB ${span(samples.map((s) => s.rss / MB))}, steps ${HALF}–${STEPS} ${Math.min(...half.map((s) => s.rss / MB)).toFixed(1)}–${Math.max(...half.map((s) => s.rss / MB)).toFixed(1)}, slope ${rssSlope.toFixed(2)} MB/100 steps; ` +
        `heap MB ${span(samples.map((s) => s.heapUsed / MB))}, slope ${heapSlope.toFixed(3)} MB/100 steps`
    )
    const settled = tensors.slice(WARMUP - 1)
    expect(settled).toEqual(settled.map(() => settled[0]))
    expect(rssSlope).toBeLessThanOrEqual(2)
    expect(heapSlope).toBeLessThanOrEqual(0.5)
  })
})
