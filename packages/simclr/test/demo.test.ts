import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { tinyConfig } from "./tinyConfig.ts"
import { demo, type DemoResult, formatDemoTable, type PretrainConfig, selectBackend } from "../src/index.ts"

const root = mkdtempSync(join(tmpdir(), "simclr-demo-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** The demo pipeline at toy size (8×8, 4 channels): it checks the wiring, not the accuracy. */
const { checkpointEvery: _every, keepCheckpoints: _keep, ...tiny } = tinyConfig
const config: PretrainConfig = {
  ...tiny,
  batchSize: 8,
  epochs: 1,
  seed: 0,
  optimizer: { name: "adam", learningRate: 0.002, scaling: "linear", weightDecay: 0, warmupEpochs: 0 }
}

describe("demo", () => {
  it.effect("pre-trains, then scores pre-trained, random-init and raw-pixel features on held-out images; writes demo.json", () =>
    Effect.gen(function*() {
      yield* selectBackend("cpu")
      const out = join(root, "run")
      const phases: Array<string> = []
      const result = yield* demo({ out, config, trainImages: 40, testImages: 20, probeEpochs: 3, onPhase: (p) => phases.push(p) })
      assert.strictEqual(result.pretrain.steps, 5)
      assert.deepStrictEqual(result.rows.map((r) => r.name), ["pre-trained", "random init", "raw pixels"])
      // h of a 4-wide ResNet-18 is 8·4 = 32-d; raw pixels are 8·8·3.
      assert.deepStrictEqual(result.rows.map((r) => r.dim), [32, 32, 192])
      for (const r of result.rows) {
        assert.strictEqual(r.linear.count, 20)
        assert.strictEqual(r.knn.count, 20)
        for (const v of [r.linear.top1, r.linear.top5, r.knn.top1, r.knn.top5]) assert.isTrue(v >= 0 && v <= 1)
        assert.isTrue(r.linear.top5 >= r.linear.top1)
      }
      assert.strictEqual(phases.length, 4)
      const written = JSON.parse(readFileSync(join(out, "demo.json"), "utf8")) as DemoResult & { backend: string }
      assert.strictEqual(written.backend, "cpu")
      assert.deepStrictEqual(written.rows, JSON.parse(JSON.stringify(result.rows)))
      const table = formatDemoTable(result)
      for (const name of ["pre-trained", "random init", "raw pixels", "chance: 10.0 %"]) assert.include(table, name)
      assert.match(table, /pre-trained vs random init: linear [+-]\d+\.\d points/)

      // Run again on the finished run: nothing left to train, the same scores, and no tensor left behind
      // (the first run warmed tfjs-layers' cached constants).
      const before = tf.memory().numTensors
      const again = yield* demo({ out, config, trainImages: 40, testImages: 20, probeEpochs: 3 })
      assert.strictEqual(tf.memory().numTensors, before)
      assert.deepStrictEqual(again.rows, result.rows)
    }))
})
