/**
 * The "I only want the augmentations" user: @simclr/augment packed and installed alone next to
 * tfjs-core and the cpu backend; an op must equal its torchvision fixture and twoViews must be
 * reproducible from its seed.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "vitest"
import { describeStandalone, repo } from "./install.ts"

const fixtures = JSON.parse(readFileSync(join(repo, "packages", "augment", "test", "fixtures", "augment.json"), "utf8")) as {
  images: Array<unknown>
  cases: Array<{ op: string; style: string; params: Record<string, unknown>; output: Array<unknown> }>
}

describeStandalone("@simclr/augment", (installed) => {
  it("matches the torchvision saturation fixture and reproduces twoViews from its seed", () => {
    const c = fixtures.cases.find((f) => f.op === "adjustSaturation" && f.style === "torchvision")!
    const out = installed().runScript(`import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { adjustSaturation, twoViews } from "@simclr/augment"
await tf.setBackend("cpu")
const images = tf.tensor4d(${JSON.stringify(fixtures.images)})
const saturated = adjustSaturation(images, ${JSON.stringify(c.params["factor"])}, { style: "torchvision" })
const a = twoViews(images, { size: [6, 5] }, 3).map((v) => Array.from(v.dataSync()))
const b = twoViews(images, { size: [6, 5] }, 3).map((v) => Array.from(v.dataSync()))
console.log(JSON.stringify({ saturated: Array.from(saturated.dataSync()), same: JSON.stringify(a) === JSON.stringify(b) }))
`)
    const result = JSON.parse(out.trim().split("\n").at(-1)!) as { saturated: Array<number>; same: boolean }
    const expected = (c.output as Array<unknown>).flat(3) as Array<number>
    expect(result.saturated.length).toBe(expected.length)
    result.saturated.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5))
    expect(result.same).toBe(true)
  })
})
