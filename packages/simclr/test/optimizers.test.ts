import { normalArray, useLeakCheck } from "@simclr/test-utils"
import * as tf from "@tensorflow/tfjs-core"
import { describe, expect, it } from "vitest"
import { adam, adamw, disposeState, isNormOrBias, lars, type NamedTensors, type Optimizer, sgd } from "../src/index.ts"

useLeakCheck()

type Vecs = Record<string, Array<number>>

const norm = (x: ReadonlyArray<number>) => Math.sqrt(x.reduce((s, v) => s + v * v, 0))

/** Float64 LARS, written from the official update rule (reference §2.5), one weight at a time. */
const larsRef = (w: Vecs, gs: Array<Vecs>, lrs: Array<number>, o: { m: number; eta: number; wd: number; nesterov: boolean }) => {
  const weights = structuredClone(w)
  const v: Vecs = Object.fromEntries(Object.entries(w).map(([k, x]) => [k, x.map(() => 0)]))
  gs.forEach((grads, step) => {
    const lr = lrs[step]!
    for (const name of Object.keys(weights)) {
      const excluded = isNormOrBias(name)
      const x = weights[name]!
      const g = grads[name]!.map((gi, i) => (o.wd !== 0 && !excluded ? gi + o.wd * x[i]! : gi))
      const wn = norm(x)
      const gn = norm(g)
      const trust = !excluded && wn > 0 && gn > 0 ? (o.eta * wn) / gn : 1
      const vel = v[name]!.map((vi, i) => o.m * vi + lr * trust * g[i]!)
      v[name] = vel
      weights[name] = x.map((xi, i) => xi - (o.nesterov ? o.m * vel[i]! + lr * trust * g[i]! : vel[i]!))
    }
  })
  return weights
}

const sgdRef = (w: Vecs, gs: Array<Vecs>, lrs: Array<number>, o: { m: number; wd: number; nesterov: boolean }) => {
  const weights = structuredClone(w)
  const v: Vecs = Object.fromEntries(Object.entries(w).map(([k, x]) => [k, x.map(() => 0)]))
  gs.forEach((grads, step) => {
    const lr = lrs[step]!
    for (const name of Object.keys(weights)) {
      const x = weights[name]!
      const decays = o.wd !== 0 && !/\/(gamma|beta)$/.test(name)
      const g = grads[name]!.map((gi, i) => (decays ? gi + o.wd * x[i]! : gi))
      const vel = v[name]!.map((vi, i) => o.m * vi - lr * g[i]!)
      v[name] = vel
      weights[name] = x.map((xi, i) => xi + (o.nesterov ? o.m * vel[i]! - lr * g[i]! : vel[i]!))
    }
  })
  return weights
}

const adamRef = (w: Vecs, gs: Array<Vecs>, lrs: Array<number>, o: { b1: number; b2: number; eps: number; wd: number; decoupled: boolean }) => {
  const weights = structuredClone(w)
  const m: Vecs = Object.fromEntries(Object.entries(w).map(([k, x]) => [k, x.map(() => 0)]))
  const v: Vecs = structuredClone(m)
  gs.forEach((grads, step) => {
    const t = step + 1
    const lr = lrs[step]!
    for (const name of Object.keys(weights)) {
      const x = weights[name]!
      const decays = o.wd !== 0 && !(o.decoupled ? isNormOrBias(name) : /\/(gamma|beta)$/.test(name))
      const g = grads[name]!.map((gi, i) => (decays && !o.decoupled ? gi + o.wd * x[i]! : gi))
      m[name] = m[name]!.map((mi, i) => o.b1 * mi + (1 - o.b1) * g[i]!)
      v[name] = v[name]!.map((vi, i) => o.b2 * vi + (1 - o.b2) * g[i]! ** 2)
      weights[name] = x.map((xi, i) => {
        const mh = m[name]![i]! / (1 - o.b1 ** t)
        const vh = v[name]![i]! / (1 - o.b2 ** t)
        return xi - (lr * mh) / (Math.sqrt(vh) + o.eps) - (decays && o.decoupled ? lr * o.wd * xi : 0)
      })
    }
  })
  return weights
}

/** A conv kernel, a BN gamma and beta, and a dense bias: one of each kind the exclusions tell apart. */
const shapes: Record<string, Array<number>> = { "conv1/kernel": [2, 3], "bn1/gamma": [3], "bn1/beta": [3], "fc/bias": [4] }

const makeCase = (seed: number, steps: number) => {
  const w: Vecs = Object.fromEntries(Object.entries(shapes).map(([k, s], i) => [k, Array.from(normalArray(s.reduce((a, b) => a * b, 1), seed + i))]))
  const gs: Array<Vecs> = Array.from({ length: steps }, (_v, t) =>
    Object.fromEntries(Object.entries(shapes).map(([k, s], i) => [k, Array.from(normalArray(s.reduce((a, b) => a * b, 1), 100 * (t + 1) + seed + i), (x) => 0.1 * x)]))
  )
  return { w, gs }
}

/** Runs `optimizer` for all steps in tfjs and returns the final weights as arrays. */
const runTf = (optimizer: Optimizer, w: Vecs, gs: Array<Vecs>, lrs: Array<number>): Vecs => {
  const toTensors = (x: Vecs): NamedTensors => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, tf.tensor(v, shapes[k])]))
  let weights = toTensors(w)
  let state = optimizer.init(weights)
  gs.forEach((g, t) => {
    const grads = toTensors(g)
    const next = optimizer.update(weights, grads, state, lrs[t]!)
    tf.dispose([...Object.values(weights), ...Object.values(grads)])
    disposeState(state)
    weights = next.weights
    state = next.state
  })
  expect(state.step).toBe(gs.length)
  const out = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, Array.from(v.dataSync())]))
  tf.dispose(Object.values(weights))
  disposeState(state)
  return out
}

/** float32 arithmetic over a few steps: relative error ~1e-6; 1e-5 relative to each weight's scale. */
const expectClose = (actual: Vecs, expected: Vecs) => {
  for (const name of Object.keys(expected)) {
    const scale = Math.max(...expected[name]!.map(Math.abs))
    expect(actual[name]!.length).toBe(expected[name]!.length)
    actual[name]!.forEach((a, i) => expect(Math.abs(a - expected[name]![i]!), `${name}[${i}]`).toBeLessThanOrEqual(1e-5 * scale))
  }
}

const lrs = [0, 0.4, 1.2, 0.9, 0.3]

describe("lars (official rule)", () => {
  for (const [label, o] of [
    ["classic momentum with weight decay", { m: 0.9, eta: 0.001, wd: 1e-4, nesterov: false }],
    ["Nesterov, no weight decay, larger eta", { m: 0.8, eta: 0.02, wd: 0, nesterov: true }]
  ] as const) {
    it(`matches a float64 implementation over 5 steps: ${label}`, () => {
      const { w, gs } = makeCase(1, 5)
      const out = runTf(lars({ momentum: o.m, eta: o.eta, weightDecay: o.wd, nesterov: o.nesterov }), w, gs, lrs)
      expectClose(out, larsRef(w, gs, lrs, o))
    })
  }

  it("a hand-computed step: trust ratio on the kernel, plain momentum SGD on BN and bias", () => {
    const weights = { "a/kernel": tf.tensor([3, 4]), "a/bias": tf.tensor([1, 1]) }
    const grads = { "a/kernel": tf.tensor([0, 2]), "a/bias": tf.tensor([0.5, -0.5]) }
    const opt = lars({ momentum: 0.9, eta: 0.001, weightDecay: 0.5 })
    const state = opt.init(weights)
    const { weights: w1, state: s1 } = opt.update(weights, grads, state, 2)
    // kernel: g = [0, 2] + 0.5·[3, 4] = [1.5, 4]; ‖w‖ = 5, ‖g‖ = √18.25; trust = 0.005/√18.25;
    // v = 2·trust·g; w − v.
    const trust = 0.005 / Math.sqrt(18.25)
    expect(Array.from(w1["a/kernel"]!.dataSync())).toEqual([3 - 2 * trust * 1.5, 4 - 2 * trust * 4].map(Math.fround))
    // bias: no decay, trust 1: w − 2·g.
    expect(Array.from(w1["a/bias"]!.dataSync())).toEqual([0, 2])
    tf.dispose([...Object.values(weights), ...Object.values(grads), ...Object.values(w1)])
    disposeState(state)
    disposeState(s1)
  })

  it("zero weights or zero gradients use trust 1; a missing gradient leaves the weight and slot as they were", () => {
    const weights = { "k/kernel": tf.zeros([2]), "j/kernel": tf.tensor([1, 2]) }
    const opt = lars({ momentum: 0 })
    const state = opt.init(weights)
    const grads = { "k/kernel": tf.tensor([1, -1]) }
    const next = opt.update(weights, grads, state, 0.5)
    expect(Array.from(next.weights["k/kernel"]!.dataSync())).toEqual([-0.5, 0.5])
    expect(Array.from(next.weights["j/kernel"]!.dataSync())).toEqual([1, 2])
    tf.dispose([...Object.values(weights), ...Object.values(grads), ...Object.values(next.weights)])
    disposeState(state)
    disposeState(next.state)
  })

  it("rejects bad options and mismatched gradients, naming them", () => {
    expect(() => lars({ momentum: 1 })).toThrow(/^momentum: got 1; allowed/)
    expect(() => lars({ eta: 0 })).toThrow(/^eta:/)
    const weights = { "a/kernel": tf.zeros([2]) }
    const opt = lars()
    const state = opt.init(weights)
    const bad = { "a/kernel": tf.zeros([3]) }
    expect(() => opt.update(weights, bad, state, 1)).toThrow(/"a\/kernel" has shape \[3\], its weight \[2\]/)
    const unknown = { "b/kernel": tf.zeros([2]) }
    expect(() => opt.update(weights, unknown, state, 1)).toThrow(/"b\/kernel" is not a weight/)
    tf.dispose([weights["a/kernel"], bad["a/kernel"], unknown["b/kernel"]])
    disposeState(state)
  })
})

describe("sgd", () => {
  for (const nesterov of [false, true]) {
    it(`matches a float64 implementation (Keras momentum form${nesterov ? ", Nesterov" : ""}; BN excluded from decay)`, () => {
      const { w, gs } = makeCase(2, 5)
      const o = { m: 0.9, wd: 1e-3, nesterov }
      expectClose(runTf(sgd({ momentum: o.m, weightDecay: o.wd, nesterov }), w, gs, lrs), sgdRef(w, gs, lrs, o))
    })
  }
})

describe("adam and adamw", () => {
  it("adam matches a float64 implementation (bias-corrected, L2 decay in the gradient)", () => {
    const { w, gs } = makeCase(3, 5)
    const o = { b1: 0.9, b2: 0.999, eps: 1e-7, wd: 1e-2, decoupled: false }
    expectClose(runTf(adam({ weightDecay: o.wd }), w, gs, lrs.map((l) => l / 10)), adamRef(w, gs, lrs.map((l) => l / 10), o))
  })

  it("adamw matches a float64 implementation (decoupled decay, norms and biases excluded)", () => {
    const { w, gs } = makeCase(4, 5)
    const o = { b1: 0.8, b2: 0.99, eps: 1e-6, wd: 0.05, decoupled: true }
    const out = runTf(adamw({ beta1: o.b1, beta2: o.b2, epsilon: o.eps, weightDecay: o.wd }), w, gs, lrs.map((l) => l / 10))
    expectClose(out, adamRef(w, gs, lrs.map((l) => l / 10), o))
  })
})
