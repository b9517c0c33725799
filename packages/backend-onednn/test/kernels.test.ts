/**
 * Every native kernel against the tfjs cpu backend's own, over randomized (seeded) shapes, strides,
 * paddings and dilations, forward and backward. Tolerance: |onednn − cpu| ≤ 1e-4·|cpu| + 1e-4·max|cpu|
 * (relative, with an absolute floor at 1e-4 of the output's scale for sums of many products whose
 * exact value is near zero); data movement must be bit-exact.
 */
import "@tensorflow/tfjs-backend-cpu"
import * as tf from "@tensorflow/tfjs"
import { seededRandom } from "@simclr/test-utils"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadAddon } from "../src/addon.ts"
import { onednnStatus, registerOnednnBackend } from "../src/index.ts"
// @ts-expect-error: plain JavaScript shared with memcheck.mjs (no declarations)
import { edgeCases } from "./edge-cases.mjs"

const status = onednnStatus()
const required = process.env.SIMCLR_REQUIRE_ONEDNN === "1"
// CI sets SIMCLR_REQUIRE_ONEDNN=1 after installing libdnnl-dev: there, a missing addon fails instead of skipping.
const skipReason = status.available ? undefined : `the oneDNN addon is not available here: ${status.reason}`
if (skipReason !== undefined && !required) console.warn(`skipping @simclr/backend-onednn kernel tests: ${skipReason}`)

const RTOL = 1e-4

/** Runs `fn` on cpu and on onednn with the same inputs; returns both outputs' values. */
const onBoth = (fn: () => tf.Tensor | Array<tf.Tensor>): { cpu: Array<Float32Array | Int32Array>; onednn: Array<Float32Array | Int32Array> } => {
  const run = (backend: string) => {
    tf.setBackend(backend)
    const before = tf.memory().numTensors
    const out = tf.tidy(fn)
    const list = Array.isArray(out) ? out : [out]
    const values = list.map((t) => t.dataSync() as Float32Array | Int32Array)
    tf.dispose(list)
    expect(tf.memory().numTensors, `${backend} leaked tensors`).toBe(before)
    return values
  }
  const cpu = run("cpu")
  const onednn = run("onednn")
  return { cpu, onednn }
}

const expectClose = (label: string, r: { cpu: ReadonlyArray<ArrayLike<number>>; onednn: ReadonlyArray<ArrayLike<number>> }, exact = false) => {
  expect(r.onednn.length).toBe(r.cpu.length)
  r.cpu.forEach((ref, k) => {
    const got = r.onednn[k]!
    expect(got.length, `${label}: output ${k} size`).toBe(ref.length)
    let scale = 0
    for (const v of Array.from(ref)) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v))
    let worst = 0, at = -1
    for (let i = 0; i < ref.length; i++) {
      const a = got[i]!, e = ref[i]!
      if (a === e || (Number.isNaN(e) && Number.isNaN(a))) continue
      const excess = Math.abs(a - e) - (exact ? 0 : RTOL * Math.abs(e) + RTOL * scale)
      if (!(excess <= worst)) {
        worst = Number.isNaN(excess) ? Infinity : excess
        at = i
      }
    }
    expect(at, `${label}: output ${k} differs at ${at}: onednn ${got[at]} vs cpu ${ref[at]} (scale ${scale})`).toBe(-1)
  })
}

const rng = seededRandom(20261128)
const int = (lo: number, hi: number) => lo + Math.floor(rng.uniform() * (hi - lo + 1))
const pick = <A>(xs: ReadonlyArray<A>): A => xs[int(0, xs.length - 1)]!
const tensor = (shape: ReadonlyArray<number>, source = rng) => {
  const size = shape.reduce((p, q) => p * q, 1)
  const v = new Float32Array(size)
  for (let i = 0; i < size; i++) v[i] = source.uniform() * 2 - 1
  return v
}
const zeros = (n: number) => new Float32Array(n)
/** Values drawn inside a function that `onBoth` runs twice: the same on both backends. */
const fixed = (shape: ReadonlyArray<number>) => tf.tensor(tensor(shape, seededRandom(7)), [...shape])

/** The gradient of Σ avgPool(x)² with padding excluded from each window's count, in float64. */
const avgPoolGradByHand = (xv: Float32Array, shape: [number, number, number, number], k: [number, number], s: [number, number], pad: "same" | "valid"): Float64Array => {
  const info = tf.backend_util.computePool2DInfo(shape, k, s, 1, pad)
  const [n, h, w, c] = shape
  const dx = new Float64Array(xv.length)
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < info.outHeight; oy++) {
      for (let ox = 0; ox < info.outWidth; ox++) {
        const y0 = oy * s[0] - info.padInfo.top, x0 = ox * s[1] - info.padInfo.left
        const rows: Array<number> = [], cols: Array<number> = []
        for (let i = Math.max(0, y0); i < Math.min(h, y0 + k[0]); i++) rows.push(i)
        for (let j = Math.max(0, x0); j < Math.min(w, x0 + k[1]); j++) cols.push(j)
        const count = rows.length * cols.length
        for (let ch = 0; ch < c; ch++) {
          let sum = 0
          for (const i of rows) for (const j of cols) sum += xv[((b * h + i) * w + j) * c + ch]!
          const g = (2 * sum) / count / count
          for (const i of rows) for (const j of cols) dx[((b * h + i) * w + j) * c + ch]! += g
        }
      }
    }
  }
  return dx
}

describe.skipIf(skipReason !== undefined && !required)("@simclr/backend-onednn kernels equal the cpu backend's", () => {
  beforeAll(async () => {
    await tf.ready()
    registerOnednnBackend()
  })
  afterAll(() => {
    tf.setBackend("cpu")
  })

  it("registers the native kernels under the backend's name", () => {
    const r = registerOnednnBackend()
    expect(r.name).toBe("onednn")
    expect(r.kernels).toEqual(expect.arrayContaining(["Conv2D", "FusedConv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "BatchMatMul", "_FusedMatMul", "MaxPool", "MaxPoolGrad", "AvgPool", "AvgPoolGrad", "FusedBatchNorm", "Relu", "Step", "Sum", "Mean", "Multiply", "Slice", "SplitV", "PadV2"]))
    expect(r.threads).toBeGreaterThanOrEqual(1)
    expect(tf.getKernel("Conv2D", "onednn")?.kernelFunc).not.toBe(tf.getKernel("Conv2D", "cpu")?.kernelFunc)
  })

  it("Conv2D, FusedConv2D and both convolution gradients over random geometries", () => {
    for (let trial = 0; trial < 40; trial++) {
      const n = int(1, 3), h = int(1, 11), w = int(1, 11), ci = int(1, 7), co = int(1, 9)
      const kh = int(1, 5), kw = int(1, 5)
      const dilated = trial % 4 === 3
      const stride = dilated ? 1 : int(1, 3)
      const strides: [number, number] = dilated ? [1, 1] : [stride, pick([stride, int(1, 3)])]
      const dilations: [number, number] = dilated ? [int(1, 3), int(1, 3)] : [1, 1]
      const pad = pick<"same" | "valid" | "explicit">(["same", "valid", "explicit"])
      const explicit: tf.backend_util.ExplicitPadding = [[0, 0], [int(0, 2), int(0, 2)], [int(0, 2), int(0, 2)], [0, 0]]
      const padding = pad === "explicit" ? explicit : pad
      const effH = (kh - 1) * dilations[0] + 1, effW = (kw - 1) * dilations[1] + 1
      const padH = pad === "explicit" ? explicit[1][0] + explicit[1][1] : 0, padW = pad === "explicit" ? explicit[2][0] + explicit[2][1] : 0
      if (pad !== "same" && (h + padH < effH || w + padW < effW)) continue
      const xv = tensor([n, h, w, ci]), fv = tensor([kh, kw, ci, co]), bv = tensor([co])
      const label = `x [${n},${h},${w},${ci}] filter [${kh},${kw},${ci},${co}] strides ${strides} dilations ${dilations} pad ${JSON.stringify(padding)}`
      const x = () => tf.tensor4d(xv, [n, h, w, ci]), f = () => tf.tensor4d(fv, [kh, kw, ci, co])
      expectClose(`conv2d ${label}`, onBoth(() => tf.conv2d(x(), f(), strides, padding, "NHWC", dilations)))
      expectClose(`fused conv2d + bias + relu ${label}`, onBoth(() => tf.fused.conv2d({ x: x(), filter: f(), strides, pad: padding, dilations, bias: tf.tensor1d(bv), activation: "relu" })))
      if (!dilated) {
        // Gradients of Σ conv·r: Conv2DBackpropInput and Conv2DBackpropFilter.
        expectClose(`conv2d gradients ${label}`, onBoth(() => {
          const y = tf.conv2d(x(), f(), strides, padding)
          const r = fixed(y.shape)
          return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, padding).mul(r).sum())([x(), f()])
        }))
      }
    }
  })

  it("BatchMatMul and _FusedMatMul with transposes, batch broadcasting, bias and relu", () => {
    for (let trial = 0; trial < 30; trial++) {
      const m = int(1, 9), k = int(1, 9), nn = int(1, 9)
      const ta = rng.uniform() < 0.5, tb = rng.uniform() < 0.5
      const batch = pick([[], [int(1, 3)], [2, int(1, 3)]])
      const bcast = batch.length > 0 && rng.uniform() < 0.3
      const aShape = [...batch, ta ? k : m, ta ? m : k]
      const bShape = [...(bcast ? batch.map(() => 1) : batch), tb ? nn : k, tb ? k : nn]
      const av = tensor(aShape), bv = tensor(bShape), biasv = tensor([nn])
      const label = `a [${aShape}]${ta ? "ᵀ" : ""} b [${bShape}]${tb ? "ᵀ" : ""}`
      const a = () => tf.tensor(av, aShape), b = () => tf.tensor(bv, bShape)
      expectClose(`matMul ${label}`, onBoth(() => tf.matMul(a(), b(), ta, tb)))
      expectClose(`fused matMul ${label}`, onBoth(() => tf.fused.matMul({ a: a(), b: b(), transposeA: ta, transposeB: tb, bias: tf.tensor1d(biasv), activation: "relu" })))
      // tfjs-core's BatchMatMul gradient does not reduce a broadcast batch (it throws on every backend).
      if (!bcast) expectClose(`matMul gradients ${label}`, onBoth(() => tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.matMul(p, q, ta, tb).square().sum())([a(), b()])))
    }
  })

  it("max and average pooling, forward and backward", () => {
    type Geometry = { n: number; h: number; w: number; c: number; k: [number, number]; s: [number, number]; pad: "same" | "valid" }
    const random = Array.from({ length: 30 }, (): Geometry => {
      const n = int(1, 3), h = int(2, 11), w = int(2, 11), c = int(1, 6)
      return { n, h, w, c, k: [int(1, Math.min(4, h)), int(1, Math.min(4, w))], s: [int(1, 3), int(1, 3)], pad: pick(["same", "valid"]) }
    })
    // Edge geometries: 1×1 maps, a window larger than the input, strides past the input.
    const edges = [[1, 1, 1], [1, 2, 2], [2, 3, 3], [3, 3, 1], [5, 2, 3], [4, 4, 4]].map(([h, k, s]): Geometry => ({ n: 2, h: h!, w: h!, c: 3, k: [k!, k!], s: [s!, s!], pad: "same" }))
    for (const { n, h, w, c, k, s, pad } of [...random, ...edges]) {
      const xv = tensor([n, h, w, c])
      const x = () => tf.tensor4d(xv, [n, h, w, c])
      const label = `x [${n},${h},${w},${c}] kernel ${k} strides ${s} ${pad}`
      expectClose(`maxPool ${label}`, onBoth(() => [tf.maxPool(x(), k, s, pad), tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, k, s, pad).square().sum())(x())]))
      expectClose(`avgPool ${label}`, onBoth(() => tf.avgPool(x(), k, s, pad)))
      const grad = onBoth(() => tf.grad((a: tf.Tensor) => tf.avgPool(a as tf.Tensor4D, k, s, pad).square().sum())(x()))
      // tfjs-cpu's AvgPoolGrad divides by kh·kw even where its forward pass averaged fewer (padded)
      // pixels, so with padding it is not the gradient of its own forward; ours is (as TensorFlow's).
      // Both are checked against the gradient derived by hand: d Σy²/dx = Σ over windows of 2y/count.
      expectClose(`avgPool gradient ${label}`, { cpu: [avgPoolGradByHand(xv, [n, h, w, c], k, s, pad)], onednn: grad.onednn })
      if (pad === "valid") expectClose(`avgPool gradient ${label} (cpu)`, grad)
    }
  })

  it("broadcasting binary ops, unary ops and AddN", () => {
    const binary: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
      ["add", tf.add], ["sub", tf.sub], ["mul", tf.mul], ["div", tf.div], ["maximum", tf.maximum], ["minimum", tf.minimum],
      ["squaredDifference", tf.squaredDifference], ["pow", (a, b) => tf.pow(tf.abs(a), b)],
      ["greater", tf.greater], ["greaterEqual", tf.greaterEqual], ["less", tf.less], ["lessEqual", tf.lessEqual],
      ["equal", (a, b) => tf.equal(a.round(), b.round())], ["notEqual", (a, b) => tf.notEqual(a.round(), b.round())]
    ]
    for (let trial = 0; trial < 30; trial++) {
      const rank = int(0, 5)
      const out = Array.from({ length: rank }, () => int(1, 6))
      const drop = int(0, rank)
      const bShape = out.slice(drop).map((d) => (rng.uniform() < 0.4 ? 1 : d))
      const aShape = out.map((d) => (rng.uniform() < 0.2 ? 1 : d))
      const av = tensor(aShape), bv = tensor(bShape)
      for (const [name, op] of binary) {
        const label = `${name} [${aShape}] with [${bShape}]`
        expectClose(label, onBoth(() => op(tf.tensor(av, aShape), tf.tensor(bv, bShape))))
        expectClose(`${label} swapped`, onBoth(() => op(tf.tensor(bv, bShape), tf.tensor(av, aShape))))
      }
      expectClose(`gradients of a·b + a/b [${aShape}] [${bShape}]`, onBoth(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.add(tf.mul(a, b), tf.div(a, b.abs().add(0.5))).sum())([tf.tensor(av, aShape), tf.tensor(bv, bShape)])))
    }
    const shape = [3, 5, 7, 4]
    const xv = tensor(shape)
    xv[0] = 0
    xv[1] = Number.NaN
    const unary: Array<[string, (x: tf.Tensor) => tf.Tensor]> = [
      ["relu", tf.relu], ["step", (x) => tf.step(x, 0.25)], ["sqrt", (x) => tf.sqrt(tf.abs(x))], ["rsqrt", (x) => tf.rsqrt(tf.abs(x).add(0.1))],
      ["exp", tf.exp], ["log", (x) => tf.log(tf.abs(x).add(0.1))], ["neg", tf.neg], ["abs", tf.abs], ["square", tf.square],
      ["reciprocal", (x) => tf.reciprocal(x.add(3))], ["sigmoid", tf.sigmoid], ["tanh", tf.tanh], ["relu6", (x) => tf.relu6(x.mul(8))], ["elu", tf.elu]
    ]
    for (const [name, op] of unary) {
      expectClose(name, onBoth(() => op(tf.tensor(xv, shape))))
      expectClose(`${name} gradient`, onBoth(() => tf.grad((x: tf.Tensor) => op(x).sum())(tf.tensor(xv.map((v) => (Number.isNaN(v) ? 0.5 : v)), shape))))
    }
    const yv = tensor(shape), zv = tensor(shape)
    expectClose("pow by 2 (a square)", onBoth(() => tf.pow(tf.tensor(xv, shape), 2)))
    expectClose("norm (pow by an int32 2)", onBoth(() => tf.norm(tf.tensor(xv.map((v) => (Number.isNaN(v) ? 1 : v)), shape))))
    expectClose("float32 minus a cast int32 tensor (float32 stored as Int32Array)", onBoth(() => tf.sub(tf.tensor(xv, shape), tf.cast(tf.tensor([3, -2, 1, 4], [4], "int32"), "float32"))))
    expectClose("addN", onBoth(() => tf.addN([tf.tensor(xv, shape), tf.tensor(yv, shape), tf.tensor(zv, shape)])))
  })

  it("ClipByValue, Select and GatherV2", () => {
    for (let trial = 0; trial < 20; trial++) {
      const rank = int(1, 4)
      const shape = Array.from({ length: rank }, () => int(1, 9))
      const xv = tensor(shape), yv = tensor(shape)
      const x = () => tf.tensor(xv, shape), y = () => tf.tensor(yv, shape)
      const axis = int(0, rank - 1)
      const indices = Array.from({ length: int(1, 7) }, () => int(0, shape[axis]! - 1))
      const label = `[${shape}]`
      expectClose(`clipByValue ${label}`, onBoth(() => tf.clipByValue(x(), -0.3, 0.6)), true)
      expectClose(`where ${label}`, onBoth(() => tf.where(tf.greater(x(), y()), x(), y())), true)
      expectClose(`gather ${label} axis ${axis} [${indices}]`, onBoth(() => tf.gather(x(), tf.tensor1d(indices, "int32"), axis)), true)
      expectClose(`gather int32 ${label}`, onBoth(() => tf.gather(tf.tensor(Int32Array.from(xv, (v) => v * 100), shape, "int32"), tf.tensor1d(indices, "int32"), axis)), true)
      expectClose(`gradients of clip, where and gather ${label}`, onBoth(() => tf.grad((a: tf.Tensor) => tf.add(tf.where(tf.greater(x(), y()), a.clipByValue(-0.3, 0.6), a.square()).sum(), tf.gather(a, tf.tensor1d(indices, "int32"), axis).square().sum()))(x())))
    }
    tf.setBackend("onednn")
    expect(() => tf.gather(tf.tensor1d([1, 2, 3]), tf.tensor1d([3], "int32"))).toThrow(/index 3 is not in \[0, 2\]/)
    tf.setBackend("cpu")
  })

  it("Sum, Mean, Max and Min over random axes, with and without keepDims, and their gradients", () => {
    for (let trial = 0; trial < 40; trial++) {
      const rank = int(1, 5)
      const shape = Array.from({ length: rank }, () => int(1, 7))
      const axes = shape.map((_, i) => i).filter(() => rng.uniform() < 0.5)
      const axis = axes.length === 0 ? [int(0, rank - 1)] : axes
      const keep = rng.uniform() < 0.5
      const xv = tensor(shape)
      const x = () => tf.tensor(xv, shape)
      const label = `[${shape}] axes ${axis} keepDims ${keep}`
      expectClose(`sum ${label}`, onBoth(() => [tf.sum(x(), axis, keep), tf.grad((a: tf.Tensor) => tf.sum(a, axis, keep).square().sum())(x())]))
      expectClose(`mean ${label}`, onBoth(() => [tf.mean(x(), axis, keep), tf.grad((a: tf.Tensor) => tf.mean(a, axis, keep).square().sum())(x())]))
      expectClose(`max ${label}`, onBoth(() => [tf.max(x(), axis, keep), tf.grad((a: tf.Tensor) => tf.max(a, axis, keep).sum())(x())]))
      expectClose(`min ${label}`, onBoth(() => tf.min(x(), axis, keep)))
    }
    // A large per-channel reduction, as batch norm does (threads split the rows).
    const big = [64, 16, 16, 24]
    const bv = tensor(big)
    expectClose("moments over N, H, W", onBoth(() => { const m = tf.moments(tf.tensor(bv, big), [0, 1, 2]); return [m.mean, m.variance] }))
  })

  it("batch norm: FusedBatchNorm forward and the gradients of training-mode normalisation", () => {
    for (const shape of [[2, 5, 5, 3], [4, 3, 3, 16], [7, 10], [32, 8, 8, 8]]) {
      const c = shape[shape.length - 1]!
      const xv = tensor(shape), g = tensor([c]), beta = tensor([c])
      const x = () => tf.tensor(xv, shape)
      const train = (a: tf.Tensor, gamma: tf.Tensor, offset: tf.Tensor) => {
        const m = tf.moments(a, shape.map((_, i) => i).slice(0, -1))
        return tf.batchNorm(a, m.mean, m.variance, offset, gamma, 1e-5)
      }
      expectClose(`batchNorm [${shape}]`, onBoth(() => tf.batchNorm(x(), tf.tensor1d(beta).mul(0.1), tf.tensor1d(g).abs(), tf.tensor1d(beta), tf.tensor1d(g), 1e-3)))
      expectClose(`training batch norm and its gradients [${shape}]`, onBoth(() => {
        const r = fixed(shape)
        return tf.grads((a: tf.Tensor, gamma: tf.Tensor, offset: tf.Tensor) => train(a, gamma, offset).mul(r).sum())([x(), tf.tensor1d(g), tf.tensor1d(beta)])
      }))
    }
  })

  it("fused training batch norm (SimclrBatchNormTraining and its gradient kernel) equals moments + batchNorm on cpu", () => {
    for (const shape of [[2, 5, 5, 3], [4, 3, 3, 16], [7, 10], [32, 8, 8, 8], [64, 6, 6, 40]]) {
      const c = shape[shape.length - 1]!
      const axes = shape.map((_, i) => i).slice(0, -1)
      // An offset mean (|mean| ≫ std) checks the variance's accuracy.
      const xv = tensor(shape).map((v) => 3 + 0.5 * v), g = tensor([c]), beta = tensor([c]), dyv = tensor(shape)
      const eps = 1e-3
      tf.setBackend("cpu")
      const ref = tf.tidy(() => {
        const x = tf.tensor(xv, shape), dy = tf.tensor(dyv, shape)
        const m = tf.moments(x, axes)
        const f = (a: tf.Tensor, gamma: tf.Tensor, offset: tf.Tensor) => { const mm = tf.moments(a, axes); return tf.batchNorm(a, mm.mean, mm.variance, offset, gamma, eps).mul(dy).sum() }
        const y = tf.batchNorm(x, m.mean, m.variance, tf.tensor1d(beta), tf.tensor1d(g), eps)
        return [y, m.mean, m.variance, ...tf.grads(f)([x, tf.tensor1d(g), tf.tensor1d(beta)])].map((t) => t.dataSync() as Float32Array)
      })
      tf.setBackend("onednn")
      const got = tf.tidy(() => {
        const x = tf.tensor(xv, shape), dy = tf.tensor(dyv, shape), scale = tf.tensor1d(g), offset = tf.tensor1d(beta)
        const [y, mean, variance] = tf.engine().runKernel("SimclrBatchNormTraining", { x, scale, offset }, { epsilon: eps }) as Array<tf.Tensor>
        const grads = tf.engine().runKernel("SimclrBatchNormTrainingGrad", { dy, x, scale, mean: mean!, variance: variance! }, { epsilon: eps }) as Array<tf.Tensor>
        return [y!, mean!, variance!, ...grads].map((t) => t.dataSync() as Float32Array)
      })
      tf.setBackend("cpu")
      expectClose(`fused batch norm [${shape}]: y, mean, variance, dx, dscale, doffset`, { cpu: ref, onednn: got })
    }
  })

  it("edge cases: tiny and odd channel counts, 1×1 maps, strides past the input, empty batches, size-1 and size-0 dimensions", () => {
    const cases = edgeCases() as Array<{ label: string; fn: (t: typeof tf) => tf.Tensor | Array<tf.Tensor>; exact: boolean }>
    expect(cases.length).toBeGreaterThan(600)
    for (const { label, fn, exact } of cases) expectClose(label, onBoth(() => fn(tf)), exact)
  })

  it("the filter gradient of a strided 1×1 convolution below 8 channels is bit-identical run after run on 2 threads", () => {
    // oneDNN 2.6's own kernel for it wrote past its per-thread workspace into the other thread's: results
    // changed from run to run (and the heap was corrupted on one thread). Every ResNet shortcut at 2–7
    // channels, 8 runs each on two threads, must give the same bits.
    const { threads } = registerOnednnBackend()
    registerOnednnBackend({ threads: 2 })
    try {
      tf.setBackend("onednn")
      for (const ci of [2, 3, 4, 5, 7]) {
        for (const h of [4, 8, 9, 16]) {
          const x = tf.tensor4d(tensor([16, h, h, ci]), [16, h, h, ci])
          const dy = tf.tensor4d(tensor([16, Math.ceil(h / 2), Math.ceil(h / 2), 2 * ci]), [16, Math.ceil(h / 2), Math.ceil(h / 2), 2 * ci])
          const filterGradient = () => tf.tidy(() => (tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { strides: [2, 2], pad: "valid", dataFormat: "NHWC", filterShape: [1, 1, ci, 2 * ci] }) as tf.Tensor).dataSync())
          const runs = Array.from({ length: 8 }, filterGradient)
          for (const r of runs.slice(1)) expect(Array.from(r), `x [16,${h},${h},${ci}]`).toEqual(Array.from(runs[0]!))
          tf.dispose([x, dy])
        }
      }
    } finally {
      registerOnednnBackend({ threads })
      tf.setBackend("cpu")
    }
  })

  it("the addon refuses arrays and shapes that disagree (a named error, never a read or write past an array)", () => {
    const loaded = loadAddon()
    if (!("addon" in loaded)) throw new Error(loaded.reason)
    const a = loaded.addon
    const cases: Array<[string, () => void, RegExp]> = [
      ["conv2d: y one element short", () => a.conv2d(zeros(2 * 4 * 4 * 3), [2, 4, 4, 3], zeros(27 * 5), [3, 3, 3, 5], zeros(2 * 4 * 4 * 5 - 1), [2, 4, 4, 5], [1, 1], [1, 1], [1, 1, 1, 1], null, false), /y: has 159 elements, the shapes need 160/],
      ["conv2d: x of another type", () => a.conv2d(new Int32Array(96) as never, [2, 4, 4, 3], zeros(135), [3, 3, 3, 5], zeros(160), [2, 4, 4, 5], [1, 1], [1, 1], [1, 1, 1, 1], null, false), /x: wrong element type/],
      ["conv2d: a bias of the wrong size", () => a.conv2d(zeros(96), [2, 4, 4, 3], zeros(135), [3, 3, 3, 5], zeros(160), [2, 4, 4, 5], [1, 1], [1, 1], [1, 1, 1, 1], zeros(4), false), /bias: has 4 elements, the shapes need 5/],
      ["conv2d: an output shape that the geometry does not give", () => a.conv2d(zeros(96), [2, 4, 4, 3], zeros(135), [3, 3, 3, 5], zeros(2 * 5 * 5 * 5), [2, 5, 5, 5], [1, 1], [1, 1], [1, 1, 1, 1], null, false), /could not create a descriptor for a dilated convolution/],
      ["conv2d: stride 0", () => a.conv2d(zeros(96), [2, 4, 4, 3], zeros(135), [3, 3, 3, 5], zeros(160), [2, 4, 4, 5], [0, 1], [1, 1], [1, 1, 1, 1], null, false), /strides and dilations must be at least 1/],
      ["conv2d: a shape of rank 3", () => a.conv2d(zeros(96), [2, 4, 12], zeros(135), [3, 3, 3, 5], zeros(160), [2, 4, 4, 5], [1, 1], [1, 1], [1, 1, 1, 1], null, false), /x shape: expected 4 values, got 3/],
      ["conv2dBackwardFilter: dw too large", () => a.conv2dBackwardFilter(zeros(96), [2, 4, 4, 3], zeros(160), [2, 4, 4, 5], zeros(136), [3, 3, 3, 5], [1, 1], [1, 1], [1, 1, 1, 1]), /dw: has 136 elements, the shapes need 135/],
      ["conv2dBackwardData: dy too small", () => a.conv2dBackwardData(zeros(159), [2, 4, 4, 5], zeros(135), [3, 3, 3, 5], zeros(96), [2, 4, 4, 3], [1, 1], [1, 1], [1, 1, 1, 1]), /dy: has 159 elements/],
      ["matmul: b with another inner size", () => a.matmul(zeros(12), [1, 3, 4], zeros(15), [1, 5, 3], false, false, zeros(9), null, false), /b has 5 rows/],
      ["matmul: batches that do not broadcast", () => a.matmul(zeros(24), [2, 3, 4], zeros(36), [3, 4, 3], false, false, zeros(27), null, false), /batch sizes 2 and 3 do not broadcast/],
      ["pool2d: x too small", () => a.pool2d(true, zeros(10), [1, 4, 4, 1], zeros(4), [1, 2, 2, 1], [2, 2], [2, 2], [0, 0, 0, 0]), /x: has 10 elements, the shapes need 16/],
      ["binary: shapes that do not broadcast", () => a.binary(0, zeros(6), [2, 3], zeros(4), [2, 2], zeros(6), [2, 3]), /do not broadcast/],
      ["binary: a comparison into float32", () => a.binary(8, zeros(6), [2, 3], zeros(6), [2, 3], zeros(6), [2, 3]), /out: wrong element type/],
      ["unary: out shorter than x", () => a.unary(0, zeros(10), zeros(9), 0, 0), /out: has 9 elements, the shapes need 10/],
      ["batchNorm: 3 channels for 10 values", () => a.batchNorm(zeros(10), zeros(10), 3, zeros(3), zeros(3), null, null, 1e-3), /channels: 3 does not divide the 10 values/],
      ["batchNorm: a mean of 2 values for 5 channels", () => a.batchNorm(zeros(10), zeros(10), 5, zeros(2), zeros(5), null, null, 1e-3), /mean: has 2 values, expected 1 or 5/],
      ["bnTrain: an empty x", () => a.bnTrain(zeros(0), 1, zeros(1), zeros(1), 1e-3, zeros(0), zeros(1), zeros(1)), /x is empty/],
      ["bnTrainGrad: dx too small", () => a.bnTrainGrad(zeros(12), zeros(12), 4, zeros(4), zeros(4), zeros(4), 1e-3, zeros(8), zeros(4), zeros(4)), /dx: has 8 elements, the shapes need 12/],
      ["reduce: out too small", () => a.reduce(0, zeros(24), [2, 3, 4], zeros(7)), /out: has 7 elements, the shapes need 8/],
      ["reduce: nothing to reduce", () => a.reduce(2, zeros(0), [2, 0, 4], zeros(8)), /nothing to reduce/],
      ["copy: a source offset past the end", () => a.copy(zeros(6), 3, [3, 1], zeros(6), 0, [3, 1], [2, 3]), /source: the copy reaches elements 3 to 8 of 6/],
      ["copy: a negative stride before the start", () => a.copy(zeros(6), 0, [-3, 1], zeros(6), 0, [3, 1], [2, 3]), /source: the copy reaches elements -3 to 2 of 6/],
      ["copy: a destination too small", () => a.copy(zeros(6), 0, [3, 1], zeros(5), 0, [3, 1], [2, 3]), /destination: the copy reaches elements 0 to 5 of 5/],
      ["gather: out too small", () => a.gather(zeros(6), [1, 3, 2], new Int32Array([0, 2]), zeros(3)), /out: has 3 elements, the shapes need 4/],
      ["gather: an index past the axis", () => a.gather(zeros(6), [1, 3, 2], new Int32Array([3]), zeros(2)), /index 3 is not in \[0, 2\]/],
      ["select: a condition of another length", () => a.select(new Uint8Array(5), zeros(6), zeros(6), zeros(6)), /condition: has 5 elements, the shapes need 6/],
      ["setThreads: 0", () => a.setThreads(0), /expected 1 to 4096 threads, got 0/]
    ]
    const wrong = cases.flatMap(([label, call, message]) => {
      try {
        call()
        return [`${label}: did not throw`]
      } catch (error) {
        const text = error instanceof Error ? error.message : String(error)
        return message.test(text) ? [] : [`${label}: threw "${text}"`]
      }
    })
    expect(wrong).toEqual([])
    // Still working after every refusal.
    const out = zeros(4)
    a.binary(0, Float32Array.of(1, 2, 3, 4), [4], Float32Array.of(1), [1], out, [4])
    expect(Array.from(out)).toEqual([2, 3, 4, 5])
  })

  it("Slice, SplitV, Transpose, Tile, Reverse, PadV2 and Concat are bit-exact, for float32 and int32", () => {
    for (let trial = 0; trial < 40; trial++) {
      const rank = int(1, 5)
      const shape = Array.from({ length: rank }, () => int(1, 6))
      const xv = tensor(shape)
      const dtype = trial % 3 === 0 ? "int32" : "float32"
      const x = () => tf.tensor(dtype === "int32" ? Int32Array.from(xv, (v) => Math.round(v * 1000)) : xv, shape, dtype)
      const begin = shape.map((d) => int(0, d - 1))
      const size = shape.map((d, i) => int(1, d - begin[i]!))
      const perm = shape.map((_, i) => ({ i, key: rng.uniform() })).toSorted((p, q) => p.key - q.key).map((p) => p.i)
      const reps = shape.map(() => int(1, 3))
      const dims = shape.map((_, i) => i).filter(() => rng.uniform() < 0.5)
      const paddings = shape.map(() => [int(0, 2), int(0, 2)] as [number, number])
      const axis = int(0, rank - 1)
      const other = shape.map((d, i) => (i === axis ? int(1, 4) : d))
      const ov = tensor(other)
      const y = () => tf.tensor(dtype === "int32" ? Int32Array.from(ov, (v) => Math.round(v * 1000)) : ov, other, dtype)
      const label = `${dtype} [${shape}]`
      expectClose(`slice ${label} begin ${begin} size ${size}`, onBoth(() => tf.slice(x(), begin, size)), true)
      const cut = int(0, shape[axis]!)
      expectClose(`split ${label} on ${axis} at ${cut}`, onBoth(() => tf.split(x(), [cut, shape[axis]! - cut], axis)), true)
      expectClose(`split ${label} in ${shape[axis]} on ${axis}`, onBoth(() => tf.split(x(), shape[axis]!, axis)), true)
      expectClose(`transpose ${label} perm ${perm}`, onBoth(() => tf.transpose(x(), perm)), true)
      expectClose(`tile ${label} reps ${reps}`, onBoth(() => tf.tile(x(), reps)), true)
      expectClose(`reverse ${label} dims ${dims}`, onBoth(() => tf.reverse(x(), dims)), true)
      expectClose(`pad ${label} ${JSON.stringify(paddings)}`, onBoth(() => tf.pad(x(), paddings, 0.5)), true)
      expectClose(`concat ${label} with [${other}] on ${axis}`, onBoth(() => tf.concat([x(), y(), x()], axis)), true)
      // tfjs-core's Tile gradient stops at rank 4.
      if (dtype === "float32" && rank <= 4) {
        expectClose(`gradients through slice, pad, tile, concat ${label}`, onBoth(() => tf.grad((a: tf.Tensor) => tf.concat([tf.slice(a, begin, size).square().pad(paddings.map(() => [1, 1] as [number, number])).sum().reshape([1]), tf.tile(a, reps).mul(tf.tile(a, reps)).sum().reshape([1])]).sum())(x())))
      }
    }
  })
})
