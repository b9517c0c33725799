import { projectionHead, simclrModel } from "@simclr/heads"
import { ntXent } from "@simclr/losses"
import { expectAllclose, randomUniform, useLeakCheck } from "@simclr/test-utils"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-core/dist/register_all_gradients.js"
import * as tfl from "@tensorflow/tfjs-layers"
import { beforeAll, describe, expect, it } from "vitest"
import { disposeState, lars, sgd, simclrStep, trainableWeights } from "../src/index.ts"


/**
 * A tiny encoder: flatten → dense (4 units, no bias) → BN → activation; 8×8×3 images → 4 features.
 * Dense rather than conv so the step runs on every backend (stock wasm has no conv filter gradient).
 */
const tinyEncoder = (seed: number, activation: "relu" | "tanh") => {
  const input = tfl.input({ shape: [8, 8, 3] })
  let x = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor
  x = tfl.layers.dense({ units: 4, useBias: false, name: "fc1", kernelInitializer: tfl.initializers.glorotNormal({ seed }) }).apply(x) as tfl.SymbolicTensor
  x = tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: "bn1" }).apply(x) as tfl.SymbolicTensor
  const h = tfl.layers.activation({ activation }).apply(x) as tfl.SymbolicTensor
  return tfl.model({ inputs: input, outputs: h, name: "encoder" })
}

/**
 * Encoder + head. `smooth`: tanh and a linear head, no ReLU kinks, so finite differences are reliable;
 * otherwise ReLU and the 2-layer nonlinear head.
 */
const build = (seed: number, smooth = false) => {
  const encoder = tinyEncoder(seed, smooth ? "tanh" : "relu")
  const head = projectionHead({ inputDim: 4, mode: smooth ? "linear" : "nonlinear", numLayers: 2, hiddenDim: 6, outputDim: 3, seed: seed + 1 })
  const model = simclrModel(encoder, head)
  return {
    model,
    dispose: () => {
      // Disposing the outer model frees the encoder's and head's weights too (they are shared).
      model.dispose()
    }
  }
}

// tfjs-layers caches a few scalar constants (BN's ε, momentum, …) the first time a layer runs; they
// live for the process. One warm-up step with each kind of model keeps them out of the leak checks.
beforeAll(() => {
  for (const smooth of [false, true]) {
    const { model, dispose } = build(1, smooth)
    const views = [tf.zeros([2, 8, 8, 3]), tf.ones([2, 8, 8, 3])] as [tf.Tensor4D, tf.Tensor4D]
    const optimizer = lars()
    const state = optimizer.init(trainableWeights(model))
    disposeState(simclrStep(model, views, state, { temperature: 0.5, optimizer, learningRate: 0.1 }).state)
    tf.dispose([...views])
    dispose()
  }
})

useLeakCheck()

const snapshot = (model: tfl.LayersModel): Record<string, Array<number>> =>
  Object.fromEntries(Object.entries(trainableWeights(model)).map(([k, v]) => [k, Array.from(v.dataSync())]))

/** No batch norm anywhere: flatten → dense(5, tanh) = h → dense(3) = z; outputs [h, z]. */
const plainModel = (seed: number) => {
  const input = tfl.input({ shape: [8, 8, 3] })
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor
  const h = tfl.layers.dense({ units: 5, activation: "tanh", name: "fc", kernelInitializer: tfl.initializers.glorotNormal({ seed }) }).apply(flat) as tfl.SymbolicTensor
  const z = tfl.layers.dense({ units: 3, name: "proj", kernelInitializer: tfl.initializers.glorotNormal({ seed: seed + 1 }) }).apply(h) as tfl.SymbolicTensor
  return tfl.model({ inputs: input, outputs: [h, z] })
}

/** One SGD step (lr 1, no momentum) from the same start; returns every weight's change = −gradient. */
const deltas = (chunkSize: number | undefined, probe: boolean) => {
  const model = plainModel(31)
  const views = [randomUniform([5, 8, 8, 3], 32), randomUniform([5, 8, 8, 3], 33)] as [tf.Tensor4D, tf.Tensor4D]
  const weights = tf.tidy(() => ({ "head_supervised/kernel": tf.variable(randomUniform([5, 4], 34)), "head_supervised/bias": tf.variable(tf.zeros([4])) }))
  const probeOption = probe ? { probe: { weights, labels: new Int32Array([3, -1, 0, 1, 3]) } } : {}
  const before = { ...snapshot(model), ...Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, Array.from(v.dataSync())])) }
  const optimizer = sgd({ momentum: 0 })
  const state = optimizer.init({ ...trainableWeights(model), ...(probe ? weights : {}) })
  const result = simclrStep(model, views, state, { temperature: 0.5, optimizer, learningRate: 1, ...probeOption, ...(chunkSize === undefined ? {} : { chunkSize }) })
  const after = { ...snapshot(model), ...Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, Array.from(v.dataSync())])) }
  disposeState(result.state)
  tf.dispose([...views, ...Object.values(weights)])
  model.dispose()
  const { state: _, ...metrics } = result
  return { metrics, delta: Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v.map((x, i) => x - before[k]![i]!)])) }
}

describe("simclrStep", () => {
  it("plain SGD moves every weight by −lr × its finite-difference gradient", () => {
    const { model, dispose } = build(3, true)
    const views = [randomUniform([4, 8, 8, 3], 5) as tf.Tensor4D, randomUniform([4, 8, 8, 3], 6) as tf.Tensor4D] as const
    const variables = trainableWeights(model)
    // Finite differences of the loss in float32 (step 1e-3) at three entries of each weight.
    const lossAt = () =>
      tf.tidy(() => {
        const z = (model.apply(tf.concat([views[0], views[1]]), { training: true }) as Array<tf.Tensor>)[2]!
        return ntXent(tf.slice(z, [0, 0], [4, -1]), tf.slice(z, [4, 0], [4, -1]), { temperature: 0.5 }).dataSync()[0]!
      })
    const fd: Record<string, Array<[number, number]>> = {}
    const eps = 1e-3
    for (const [name, v] of Object.entries(variables)) {
      const base = Array.from(v.dataSync())
      fd[name] = []
      for (const i of [0, Math.floor(base.length / 2), base.length - 1]) {
        const shifted = (delta: number) => {
          const values = base.slice()
          values[i] = values[i]! + delta
          const t = tf.tensor(values, v.shape)
          v.assign(t)
          t.dispose()
          return lossAt()
        }
        // Fourth-order central difference: the loss curves sharply (batch-norm statistics over 8 rows,
        // then a normalisation), so the plain two-point quotient at this step is off by ~1 %.
        fd[name].push([i, (8 * (shifted(eps) - shifted(-eps)) - (shifted(2 * eps) - shifted(-2 * eps))) / (12 * eps)])
        const t = tf.tensor(base, v.shape)
        v.assign(t)
        t.dispose()
      }
    }
    const before = snapshot(model)
    const optimizer = sgd({ momentum: 0 })
    const state = optimizer.init(variables)
    const lr = 0.1
    const result = simclrStep(model, views, state, { temperature: 0.5, optimizer, learningRate: lr })
    const after = snapshot(model)
    for (const [name, entries] of Object.entries(fd)) {
      for (const [i, g] of entries) {
        // float32: the loss (≈ 2) is exact to ~2e-7, so the quotient to ~1e-3 at step 1e-3, plus the
        // O(eps⁴) truncation: 2e-3 absolute + 0.5 % relative.
        expect(Math.abs((before[name]![i]! - after[name]![i]!) / lr - g), `${name}[${i}]`).toBeLessThan(2e-3 + 5e-3 * Math.abs(g))
      }
    }
    expect(Number.isFinite(result.loss)).toBe(true)
    disposeState(result.state)
    tf.dispose([...views])
    dispose()
  })

  it("trains: LARS lowers the loss on fixed views; batch norm runs in training mode and updates its moving statistics", () => {
    const { model, dispose } = build(7)
    const views = [randomUniform([8, 8, 8, 3], 11) as tf.Tensor4D, randomUniform([8, 8, 8, 3], 12) as tf.Tensor4D] as const
    const movingMean = (model.getLayer("encoder") as tfl.LayersModel).getLayer("bn1").getWeights()[2]!
    const meanBefore = Array.from(movingMean.dataSync())
    const optimizer = lars({ momentum: 0.9, weightDecay: 1e-4 })
    let state = optimizer.init(trainableWeights(model))
    const losses: Array<number> = []
    for (let i = 0; i < 15; i++) {
      const r = simclrStep(model, views, state, { temperature: 0.5, optimizer, learningRate: 2 })
      losses.push(r.loss)
      state = r.state
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.2)
    const meanAfter = Array.from((model.getLayer("encoder") as tfl.LayersModel).getLayer("bn1").getWeights()[2]!.dataSync())
    expect(meanAfter).not.toEqual(meanBefore)
    disposeState(state)
    tf.dispose([...views])
    dispose()
  })

  it("a non-finite loss throws before any weight changes", () => {
    const { model, dispose } = build(9)
    const bad = tf.fill([2, 8, 8, 3], Number.NaN) as tf.Tensor4D
    const before = snapshot(model)
    const optimizer = sgd()
    const state = optimizer.init(trainableWeights(model))
    expect(() => simclrStep(model, [bad, bad], state, { temperature: 0.5, optimizer, learningRate: 0.1 })).toThrow(/loss is NaN: the step was not applied/)
    expect(snapshot(model)).toEqual(before)
    disposeState(state)
    bad.dispose()
    dispose()
  })

  it("online probe: the encoder and head move exactly as without it; the probe takes −lr·hᵀ(softmax − onehot)/M over labeled images of both views", () => {
    const views = [randomUniform([3, 8, 8, 3], 21), randomUniform([3, 8, 8, 3], 22)] as [tf.Tensor4D, tf.Tensor4D]
    const labels = new Int32Array([2, -1, 0]) // the second image is unlabeled: left out (M = 4 of 6 rows)
    const optimizer = sgd({ momentum: 0 })
    const lr = 0.5

    const plain = build(4)
    const plainState = optimizer.init(trainableWeights(plain.model))
    const without = simclrStep(plain.model, views, plainState, { temperature: 0.5, optimizer, learningRate: lr })

    const probed = build(4)
    // h before the step, both views (batch norm in training mode: batch statistics, as the step sees them).
    const h = tf.tidy(() => (probed.model.apply(tf.concat(views, 0), { training: true }) as Array<tf.Tensor>)[0]!)
    const rows = h.arraySync() as Array<Array<number>>
    const weights = tf.tidy(() => ({ "head_supervised/kernel": tf.variable(tf.zeros([4, 3])), "head_supervised/bias": tf.variable(tf.zeros([3])) }))
    const probedState = optimizer.init({ ...trainableWeights(probed.model), ...weights })
    const withProbe = simclrStep(probed.model, views, probedState, { temperature: 0.5, optimizer, learningRate: lr, probe: { weights, labels } })

    expect(snapshot(probed.model)).toEqual(snapshot(plain.model))
    expect(withProbe.loss).toBe(without.loss)
    // Zero weights: uniform softmax 1/3, cross-entropy ln 3, accuracy of argmax (class 0 on ties) = share of label 0.
    expect(withProbe.probeLoss).toBeCloseTo(Math.log(3), 6)
    expect(withProbe.probeAccuracy).toBe(2 / 4)
    const both = [...labels, ...labels]
    const kernel = [0, 1, 2, 3].map((d) =>
      [0, 1, 2].map((c) => -lr * both.reduce((sum, l, i) => (l < 0 ? sum : sum + rows[i]![d]! * (1 / 3 - (l === c ? 1 : 0))), 0) / 4)
    )
    const bias = [0, 1, 2].map((c) => -lr * both.reduce((sum, l) => (l < 0 ? sum : sum + (1 / 3 - (l === c ? 1 : 0))), 0) / 4)
    expectAllclose(weights["head_supervised/kernel"], kernel, { rtol: 1e-5, atol: 1e-7 })
    expectAllclose(weights["head_supervised/bias"], bias, { rtol: 1e-5, atol: 1e-7 })

    disposeState(without.state)
    disposeState(withProbe.state)
    tf.dispose([...views, h, ...Object.values(weights)])
    plain.dispose()
    probed.dispose()
  })

  describe("chunkSize (GradCache)", () => {
    it("without batch norm, chunks of 1, 2 and 4 images give the full batch's gradients and metrics (float32, 1e-5 of the scale)", () => {
      for (const probe of [false, true]) {
        const full = deltas(undefined, probe)
        for (const chunkSize of [1, 2, 4]) {
          const chunkedRun = deltas(chunkSize, probe)
          expect(chunkedRun.metrics.loss).toBeCloseTo(full.metrics.loss, 5)
          expect(chunkedRun.metrics.contrastiveAccuracy).toBe(full.metrics.contrastiveAccuracy)
          expect(chunkedRun.metrics.contrastiveEntropy).toBeCloseTo(full.metrics.contrastiveEntropy, 5)
          expect([chunkedRun.metrics.probeLoss === undefined, full.metrics.probeLoss === undefined]).toEqual([!probe, !probe])
          expect(chunkedRun.metrics.probeLoss ?? 0).toBeCloseTo(full.metrics.probeLoss ?? 0, 5)
          for (const [name, d] of Object.entries(full.delta)) {
            if (!probe && name.startsWith("head_supervised")) continue
            const scale = Math.max(...d.map(Math.abs))
            expect({ name, moved: scale > 0 }).toEqual({ name, moved: true })
            expectAllclose(chunkedRun.delta[name]!, d, { rtol: 0, atol: 1e-5 * scale })
          }
        }
      }
    })

    it("with batch norm, statistics are per chunk: the loss is NT-Xent of the per-chunk embeddings, and the moving averages move once per chunk", () => {
      const { model, dispose } = build(41)
      const views = [randomUniform([6, 8, 8, 3], 42), randomUniform([6, 8, 8, 3], 43)] as [tf.Tensor4D, tf.Tensor4D]
      const bn = (model.getLayer("encoder") as tfl.LayersModel).getLayer("bn1")
      const start = bn.getWeights().map((w) => w.clone())
      // Expected: each chunk (both views of 3 images) through the network in training mode, in order.
      const expected = tf.tidy(() => {
        const zs = [0, 3].map((from) => {
          const x = tf.concat([tf.slice(views[0], [from, 0, 0, 0], [3, -1, -1, -1]), tf.slice(views[1], [from, 0, 0, 0], [3, -1, -1, -1])])
          return (model.apply(x, { training: true }) as Array<tf.Tensor>)[2]!
        })
        const z1 = tf.concat(zs.map((z) => tf.slice(z, [0, 0], [3, -1])))
        const z2 = tf.concat(zs.map((z) => tf.slice(z, [3, 0], [3, -1])))
        return ntXent(z1, z2, { temperature: 0.5 }).dataSync()[0]!
      })
      const movingAfterTwoChunks = bn.getWeights().slice(2).map((w) => Array.from(w.dataSync()))
      bn.setWeights(start)
      const optimizer = sgd({ momentum: 0 })
      const result = simclrStep(model, views, optimizer.init(trainableWeights(model)), { temperature: 0.5, optimizer, learningRate: 0.1, chunkSize: 3 })
      expect(result.loss).toBeCloseTo(expected, 5)
      const moving = bn.getWeights().slice(2).map((w) => Array.from(w.dataSync()))
      expectAllclose(moving[0]!, movingAfterTwoChunks[0]!, { rtol: 1e-5, atol: 1e-7 })
      expectAllclose(moving[1]!, movingAfterTwoChunks[1]!, { rtol: 1e-5, atol: 1e-7 })
      disposeState(result.state)
      tf.dispose([...views, ...start])
      dispose()
    })

    it("a bad chunk size names the option", () => {
      const { model, dispose } = build(5)
      const views = [tf.zeros([2, 8, 8, 3]), tf.ones([2, 8, 8, 3])] as [tf.Tensor4D, tf.Tensor4D]
      const optimizer = sgd()
      const state = optimizer.init(trainableWeights(model))
      expect(() => simclrStep(model, views, state, { temperature: 0.5, optimizer, learningRate: 0.1, chunkSize: 0 })).toThrow(/chunkSize: expected a positive integer, got 0/)
      disposeState(state)
      tf.dispose([...views])
      dispose()
    })
  })
})
