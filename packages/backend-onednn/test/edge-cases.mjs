// The shapes where native index arithmetic goes wrong: channel counts below and around the SIMD block
// (1, 2, 3, 4, 5, 7, 9, 17), 1×1 feature maps, strides larger than the input, kernels as large as the
// input, empty batches, size-1 and size-0 dimensions, and the convolutions of a ResNet with 2–5 channels
// per group (the case that corrupted the heap: oneDNN's strided 1×1 filter gradient below 8 channels).
//
// Plain JavaScript, so that `memcheck.mjs` runs the same cases under valgrind without a TypeScript
// loader; `kernels.test.ts` compares each with the cpu backend. Every case is a function of `tf` that
// returns the kernel's outputs (and, through tf.grads, its gradients).

/** Deterministic values in [-1, 1) (no generator state: the same on every call and backend). */
const values = (size, salt) => Float32Array.from({ length: size }, (_, i) => {
  const s = Math.sin((i + 1) * 12.9898 + salt * 78.233) * 43758.5453
  return 2 * (s - Math.floor(s)) - 1
})
const sizeOf = (shape) => shape.reduce((p, q) => p * q, 1)

/**
 * Batch norm in training over rows of `c` channels, and its gradient for the output gradient `dy`, in
 * float64: mean, biased variance, y = (x − mean)·g/√(var + eps) + b, and
 * dx = g·rstd/R·(R·dy − Σdy − x̂·Σ(dy·x̂)), dscale = Σ(dy·x̂), doffset = Σdy.
 */
const batchNormTrainingFloat64 = (x, g, b, dy, c, eps) => {
  const rows = x.length / c
  const mean = new Float64Array(c), variance = new Float64Array(c), dscale = new Float64Array(c), doffset = new Float64Array(c)
  for (let i = 0; i < x.length; i++) mean[i % c] += x[i] / rows
  for (let i = 0; i < x.length; i++) variance[i % c] += (x[i] - mean[i % c]) ** 2 / rows
  const rstd = Array.from(variance, (v) => 1 / Math.sqrt(v + eps))
  const xhat = Float64Array.from(x, (v, i) => (v - mean[i % c]) * rstd[i % c])
  for (let i = 0; i < x.length; i++) {
    dscale[i % c] += dy[i] * xhat[i]
    doffset[i % c] += dy[i]
  }
  const y = Float64Array.from(xhat, (v, i) => v * g[i % c] + b[i % c])
  const dx = Float64Array.from(xhat, (v, i) => (g[i % c] * rstd[i % c] / rows) * (rows * dy[i] - doffset[i % c] - v * dscale[i % c]))
  return { y, mean, variance, dx, dscale, doffset }
}

/** The convolution geometries: each [x shape, filter shape, strides, padding]. */
const convGeometries = () => {
  const out = []
  // A CIFAR-stem ResNet with one block per group, `w` channels at the first group, on `s`×`s` images:
  // the stem, the block convolutions, the stride-2 3×3 after an explicit pad, the 1×1 stride-2 shortcut.
  for (const w of [2, 3, 4, 5]) {
    for (const s of [8, 16]) {
      out.push([[4, s, s, 3], [3, 3, 3, w], [1, 1], "same"])
      let c = w, h = s
      for (let g = 0; g < 4; g++) {
        out.push([[4, h, h, c], [3, 3, c, c], [1, 1], "same"])
        if (g === 3) break
        const h2 = Math.ceil(h / 2)
        out.push([[4, h + 2, h + 2, c], [3, 3, c, 2 * c], [2, 2], "valid"])
        out.push([[4, h, h, c], [1, 1, c, 2 * c], [2, 2], "valid"])
        c *= 2
        h = h2
      }
    }
  }
  // Odd and SIMD-straddling channel counts on 1×1, 2×2, 3×3 and odd maps, with strides up to 3.
  for (const ci of [1, 3, 7, 9, 17]) {
    for (const co of [1, 5, 8, 17]) {
      for (const h of [1, 2, 3, 5]) {
        for (const [k, st] of [[1, 1], [1, 2], [1, 3], [3, 1], [3, 2]]) out.push([[2, h, h, ci], [k, k, ci, co], [st, st], "same"])
        if (h >= 3) out.push([[2, h, h, ci], [3, 3, ci, co], [2, 2], "valid"])
      }
    }
  }
  // Strides larger than the input, a kernel as large as the input, unequal strides.
  out.push([[3, 2, 2, 4], [1, 1, 4, 6], [3, 3], "valid"], [[3, 2, 3, 4], [1, 1, 4, 6], [4, 5], "same"])
  out.push([[2, 5, 5, 3], [5, 5, 3, 7], [1, 1], "valid"], [[2, 4, 6, 5], [1, 1, 5, 3], [2, 3], "valid"])
  return out
}

/**
 * Every edge case: `{ label, fn, exact }`, `fn(tf)` returning a tensor or a list of tensors; `exact` for
 * data movement, which must be bit-exact.
 */
export const edgeCases = () => {
  const cases = []
  let salt = 0
  // Each case draws its values afresh from salt 0, so that every run of it (cpu, onednn) sees the same.
  const add = (label, fn, exact = false) => cases.push({ label, fn: (tf) => { salt = 0; return fn(tf) }, exact })
  const t = (tf, shape, dtype = "float32") => {
    salt += 1
    const v = values(sizeOf(shape), salt)
    return dtype === "int32" ? tf.tensor(Int32Array.from(v, (x) => Math.round(x * 1000)), shape, "int32") : tf.tensor(v, shape)
  }

  for (const [xs, fs, strides, pad] of convGeometries()) {
    const label = `conv x [${xs}] filter [${fs}] strides ${strides} ${pad}`
    add(label, (tf) => {
      const f = t(tf, fs)
      const y = tf.conv2d(t(tf, xs), f, strides, pad)
      const r = t(tf, y.shape)
      // Forward, the fused form, and both gradients (Conv2DBackpropInput, Conv2DBackpropFilter).
      const fused = tf.fused.conv2d({ x: t(tf, xs), filter: f, strides, pad, bias: t(tf, [fs[3]]), activation: "relu" })
      const grads = tf.grads((a, b) => tf.conv2d(a, b, strides, pad).mul(r).sum())([t(tf, xs), f])
      return [y, fused, ...grads]
    })
  }
  // Empty batches: no output elements (the kernels hand these to the cpu backend).
  add("conv with an empty batch", (tf) => tf.conv2d(tf.zeros([0, 5, 5, 3]), t(tf, [3, 3, 3, 4]), 1, "same"))
  add("maxPool with an empty batch", (tf) => tf.maxPool(tf.zeros([0, 4, 4, 3]), 2, 2, "valid"))
  add("conv with no input channels", (tf) => tf.conv2d(tf.zeros([2, 4, 4, 0]), tf.zeros([3, 3, 0, 2]), 1, "same"))
  add("matMul with an empty batch, no rows, no inner dimension", (tf) => [
    tf.matMul(tf.zeros([0, 3, 4]), tf.zeros([0, 4, 3])),
    tf.matMul(tf.zeros([2, 0, 4]), t(tf, [2, 4, 3])),
    tf.matMul(tf.zeros([2, 3, 0]), tf.zeros([2, 0, 4]))
  ])

  for (const c of [1, 3, 9]) {
    for (const [h, k, s] of [[1, 1, 1], [1, 2, 2], [2, 3, 3], [3, 3, 1], [5, 2, 3], [4, 4, 4]]) {
      for (const pad of ["same", "valid"]) {
        if (pad === "valid" && k > h) continue
        add(`pooling x [2,${h},${h},${c}] kernel ${k} stride ${s} ${pad}`, (tf) => {
          const x = t(tf, [2, h, h, c])
          return [
            tf.maxPool(x, k, s, pad),
            tf.avgPool(x, k, s, pad),
            tf.grad((a) => tf.maxPool(a, k, s, pad).square().sum())(x),
            // With padding, tfjs-cpu's AvgPoolGrad is not the gradient of its own forward pass (see
            // kernels.test.ts, which checks these geometries against a hand derivation instead).
            ...(pad === "valid" ? [tf.grad((a) => tf.avgPool(a, k, s, pad).square().sum())(x)] : [])
          ]
        })
      }
    }
  }

  for (const [m, k, n] of [[1, 1, 1], [1, 17, 1], [17, 1, 3], [3, 5, 17], [33, 2, 1]]) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      add(`matMul [${m}×${k}]·[${k}×${n}] transposes ${ta} ${tb}`, (tf) => {
        const a = t(tf, ta ? [2, k, m] : [2, m, k]), b = t(tf, tb ? [2, n, k] : [2, k, n])
        return [
          tf.matMul(a, b, ta, tb),
          tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias: t(tf, [n]), activation: "relu" }),
          ...tf.grads((p, q) => tf.matMul(p, q, ta, tb).square().sum())([a, b])
        ]
      })
    }
  }

  // Batch norm in training and reductions: one channel, one row, odd channel counts.
  for (const shape of [[1, 1, 1, 1], [1, 1, 1, 5], [3, 1, 1, 1], [2, 3, 3, 17], [1, 7], [9, 1]]) {
    add(`batch norm in training [${shape}]`, (tf) => {
      const c = shape[shape.length - 1]
      const x = t(tf, shape), scale = t(tf, [c]), offset = t(tf, [c]), dy = t(tf, shape)
      if (tf.getKernel("SimclrBatchNormTraining", tf.getBackend()) === undefined) {
        // The reference where the fused kernels are missing (cpu): the layer and its gradient in float64.
        const ref = batchNormTrainingFloat64(x.dataSync(), scale.dataSync(), offset.dataSync(), dy.dataSync(), c, 1e-3)
        const f32 = (v, s = [c]) => tf.tensor(Float32Array.from(v), s)
        const [mean, variance] = [f32(ref.mean), f32(ref.variance)]
        return [f32(ref.y, shape), mean, variance, f32(ref.dx, shape), f32(ref.dscale), f32(ref.doffset), tf.batchNorm(x, mean, variance, offset, scale, 1e-3)]
      }
      const [y, mean, variance] = tf.engine().runKernel("SimclrBatchNormTraining", { x, scale, offset }, { epsilon: 1e-3 })
      const grads = tf.engine().runKernel("SimclrBatchNormTrainingGrad", { dy, x, scale, mean, variance }, { epsilon: 1e-3 })
      return [y, mean, variance, ...grads, tf.batchNorm(x, mean, variance, offset, scale, 1e-3)]
    })
  }
  for (const shape of [[1], [1, 1, 1], [1, 7, 1], [3, 1, 5], [2, 1, 1, 17], [65, 3]]) {
    for (let axis = 0; axis < shape.length; axis++) {
      add(`reductions [${shape}] axis ${axis} and all but ${axis}`, (tf) => {
        const x = t(tf, shape)
        const rest = shape.map((_, i) => i).filter((i) => i !== axis)
        return [tf.sum(x, axis), tf.mean(x, axis, true), tf.max(x, axis), tf.min(x, axis), ...(rest.length > 0 ? [tf.sum(x, rest), tf.max(x, rest)] : [])]
      })
    }
  }

  // Element-wise ops and copies on size-1 and size-0 dimensions.
  for (const [as, bs] of [[[1], [1]], [[1, 1, 1], [5, 1, 3]], [[7, 1], [1, 9]], [[2, 0, 3], [1, 3]], [[0], [1]]]) {
    add(`binary [${as}] with [${bs}]`, (tf) => {
      const a = t(tf, as), b = t(tf, bs)
      return [tf.add(a, b), tf.mul(b, a), tf.greater(a, b), tf.maximum(a, b), tf.relu(a), tf.where(tf.greater(a, b), tf.add(a, b), tf.sub(a, b))]
    })
  }
  for (const dtype of ["float32", "int32"]) {
    for (const shape of [[1], [1, 1, 1, 1], [3, 1, 2], [2, 0, 3], [1, 1, 17], [2, 3, 1, 1, 2, 3]]) {
      add(`copies ${dtype} [${shape}]`, (tf) => {
        const x = t(tf, shape, dtype)
        const r = shape.length
        return [
          tf.slice(x, shape.map(() => 0), shape.map((d) => Math.max(0, d - 1) || d)),
          tf.transpose(x, shape.map((_, i) => r - 1 - i)),
          tf.tile(x, shape.map((_, i) => (i % 2 === 0 ? 2 : 1))),
          tf.reverse(x, shape.map((_, i) => i)),
          tf.pad(x, shape.map((_, i) => [i % 2, 1])),
          tf.concat([x, x], r - 1),
          tf.gather(x, tf.tensor1d(shape[0] === 0 ? [] : [0, shape[0] - 1, 0], "int32"), 0)
        ]
      }, true)
    }
  }
  return cases
}
