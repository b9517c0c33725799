import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { randomUniform, seededRandom, useLeakCheck } from "@simclr/test-utils"
import { afterAll, describe, expect, it } from "vitest"
import { InvalidArgumentError, loadModel, resnet, saveModel } from "../src/index.ts"

const work = mkdtempSync(join(tmpdir(), "simclr-save-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const config = { depth: 50, baseWidth: 8, skRatio: 0.0625, seRatio: 0.25 } as const
const predict = (m: tfl.LayersModel, x: tf.Tensor) => tf.tidy(() => Array.from((m.predict(x) as tf.Tensor).dataSync()))

describe("saveModel / loadModel", () => {
  useLeakCheck()

  it("round-trips a model with selective kernels and SE (custom layers) to identical outputs", async () => {
    const dir = join(work, "roundtrip")
    const model = resnet({ ...config, seed: 1 })
    const x = randomUniform([2, 24, 24, 3], 1)
    const result = await saveModel(model, dir)
    expect(result.files[0]).toBe("model.json")
    expect(readdirSync(dir).toSorted()).toEqual([...result.files].toSorted())
    const again = await loadModel(dir)
    expect(predict(again, x)).toEqual(predict(model, x))
    expect(again.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name))
    tf.dispose(x)
    model.dispose()
    again.dispose()
  })

  it("replaces an earlier model and removes its stale shards", async () => {
    const dir = join(work, "replace")
    const a = resnet({ ...config, seed: 1 })
    const b = resnet({ ...config, seed: 2 })
    const first = await saveModel(a, dir)
    const second = await saveModel(b, dir)
    expect(second.files).not.toEqual(first.files)
    expect(readdirSync(dir).toSorted()).toEqual([...second.files].toSorted())
    const x = randomUniform([1, 16, 16, 3], 2)
    const loaded = await loadModel(dir)
    expect(predict(loaded, x)).toEqual(predict(b, x))
    tf.dispose(x)
    for (const m of [a, b, loaded]) m.dispose()
  })

  it("survives being killed at any moment: the folder always loads as the old or the new model", { timeout: 300_000 }, async () => {
    const dir = join(work, "crash")
    const old = resnet({ ...config, seed: 1 })
    const next = resnet({ ...config, seed: 2 })
    await saveModel(old, dir)
    const x = randomUniform([1, 16, 16, 3], 3)
    const [pOld, pNew] = [predict(old, x), predict(next, x)]
    const rng = seededRandom(4)
    const outcomes = new Set<string>()
    for (let round = 0; round < 12; round++) {
      const child = spawn(process.execPath, [new URL("./scripts/save-forever.mjs", import.meta.url).pathname, dir, "2"], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()))
      await new Promise((resolve) => setTimeout(resolve, 5 + rng.uniform() * 150))
      child.kill("SIGKILL")
      await new Promise((resolve) => child.once("exit", resolve))
      const loaded = await loadModel(dir)
      const p = predict(loaded, x)
      loaded.dispose()
      const which = JSON.stringify(p) === JSON.stringify(pOld) ? "old" : JSON.stringify(p) === JSON.stringify(pNew) ? "new" : "broken"
      expect(which).not.toBe("broken")
      outcomes.add(which)
    }
    expect(outcomes.has("new")).toBe(true)
    // A final, uninterrupted save leaves exactly model.json and its shards (no temporary leftovers).
    const { files } = await saveModel(next, dir)
    expect(readdirSync(dir).toSorted()).toEqual([...files].toSorted())
    tf.dispose(x)
    old.dispose()
    next.dispose()
  })

  it("names missing and corrupt files", async () => {
    await expect(loadModel(join(work, "nothing-here"))).rejects.toThrow(InvalidArgumentError)
    await expect(loadModel(join(work, "nothing-here"))).rejects.toThrow(/^dir: cannot read .*nothing-here\/model\.json/)
    const dir = join(work, "corrupt")
    const model = resnet({ depth: 18, baseWidth: 4, stem: "cifar" })
    const { files } = await saveModel(model, dir)
    model.dispose()
    writeFileSync(join(dir, files[1]!), new Uint8Array(10))
    await expect(loadModel(dir)).rejects.toThrow(/^dir: weight shards in .* hold 10 bytes but model\.json describes \d+/)
    writeFileSync(join(dir, "model.json"), "{ not json")
    await expect(loadModel(dir)).rejects.toThrow(/^dir: cannot read .*model\.json/)
  })
})
