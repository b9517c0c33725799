/**
 * The "I only want the loss" user: @simclr/losses packed and installed alone next to tfjs-core and the
 * cpu backend; the loss and its gradient must equal the PyTorch fixture (so the analytic gradient works
 * without the union package's registered op gradients).
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "vitest"
import { describeStandalone, repo } from "./install.ts"

const fixtures = JSON.parse(readFileSync(join(repo, "packages", "losses", "test", "fixtures", "losses.json"), "utf8")) as {
  ntXent: Array<{ name: string; z1: Array<Array<number>>; z2: Array<Array<number>>; temperature: number; loss: number; grad_z1: Array<Array<number>> }>
}

describeStandalone("@simclr/losses", (installed) => {
  it("computes the loss and its gradient with tfjs-core and the cpu backend only", () => {
    const c = fixtures.ntXent.find((f) => f.name === "basic-mean")!
    const out = installed().runScript(`import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { ntXent, ntXentMetrics } from "@simclr/losses"
await tf.setBackend("cpu")
const z1 = tf.tensor2d(${JSON.stringify(c.z1)})
const z2 = tf.tensor2d(${JSON.stringify(c.z2)})
const { value, grads } = tf.valueAndGrads((a, b) => ntXent(a, b, { temperature: ${c.temperature} }))([z1, z2])
const { accuracy } = ntXentMetrics(z1, z2, { temperature: ${c.temperature} })
console.log(JSON.stringify({ loss: value.dataSync()[0], grad: Array.from(grads[0].dataSync()), accuracy: accuracy.dataSync()[0] }))
`)
    const result = JSON.parse(out.trim().split("\n").at(-1)!) as { loss: number; grad: Array<number> }
    expect(Math.abs(result.loss - c.loss)).toBeLessThan(1e-5 * c.loss)
    const ref = c.grad_z1.flat()
    const scale = Math.max(...ref.map(Math.abs))
    result.grad.forEach((g, i) => expect(Math.abs(g - ref[i]!)).toBeLessThan(1e-5 * scale))
  })
})
