/**
 * Float64 references for the encoder tests, written from the definitions in plain JavaScript (no
 * tfjs op is used to compute an expected value): NHWC convolution with torch's padding, batch norm,
 * the official SK_Conv2D and SE_Layer, the ResNet-D average-pool shortcut, whole bottleneck blocks, and
 * the parameter count of a ResNet configuration. Plus `randomize`, which gives every weight of a model
 * (BN statistics included) seeded non-trivial values so that a reference cannot pass by accident.
 */
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { seededRandom } from "@simclr/test-utils"

/** A float64 array with its shape: NHWC images or [B, C] rows. */
export interface Nd {
  readonly data: Float64Array
  readonly shape: ReadonlyArray<number>
}

const size = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

export const nd = (data: ArrayLike<number>, shape: ReadonlyArray<number>): Nd => {
  if (data.length !== size(shape)) throw new Error(`nd: ${data.length} values for shape [${shape.join(", ")}]`)
  return { data: Float64Array.from(data), shape: [...shape] }
}

export const of = (t: tf.Tensor): Nd => nd(t.dataSync() as Float32Array, t.shape)

/** The weights of one layer as float64 arrays, in the layer's order. */
export const weightsOf = (m: tfl.LayersModel, layer: string): Array<Float64Array> =>
  m.getLayer(layer).getWeights().map((w) => Float64Array.from(w.dataSync() as Float32Array))

const map = (x: Nd, f: (v: number, i: number) => number): Nd => ({ data: x.data.map(f), shape: x.shape })

export const relu = (x: Nd): Nd => map(x, (v) => Math.max(0, v))
export const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v))

export const add = (a: Nd, b: Nd): Nd => {
  if (a.shape.join() !== b.shape.join()) throw new Error(`add: [${a.shape.join(", ")}] vs [${b.shape.join(", ")}]`)
  return map(a, (v, i) => v + b.data[i]!)
}

/** Convolution with a [k, k, cin, cout] (HWIO) kernel, zero padding `pad` on every side, then stride. */
export const conv2d = (x: Nd, kernel: Float64Array, k: number, stride: number, pad: number): Nd => {
  const [b, h, w, ci] = x.shape as [number, number, number, number]
  const co = kernel.length / (k * k * ci)
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1
  const wo = Math.floor((w + 2 * pad - k) / stride) + 1
  const out = new Float64Array(b * ho * wo * co)
  for (let n = 0; n < b; n++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++)
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * stride - pad + ky
          if (iy < 0 || iy >= h) continue
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * stride - pad + kx
            if (ix < 0 || ix >= w) continue
            for (let c = 0; c < ci; c++) {
              const v = x.data[((n * h + iy) * w + ix) * ci + c]!
              const kBase = ((ky * k + kx) * ci + c) * co
              const oBase = ((n * ho + oy) * wo + ox) * co
              for (let o = 0; o < co; o++) out[oBase + o]! += v * kernel[kBase + o]!
            }
          }
        }
  return { data: out, shape: [b, ho, wo, co] }
}

/** Batch norm over the last axis with the given statistics: γ(x − μ)/√(σ² + ε) + β. */
export const batchNorm = (x: Nd, [gamma, beta, mean, variance]: ReadonlyArray<ArrayLike<number>>, epsilon: number): Nd => {
  const c = x.shape.at(-1)!
  return map(x, (v, i) => {
    const j = i % c
    return (gamma![j]! * (v - mean![j]!)) / Math.sqrt(variance![j]! + epsilon) + beta![j]!
  })
}

/** Per-channel mean and biased (÷ n) variance over every axis but the last. */
export const moments = (x: Nd): { mean: Float64Array; variance: Float64Array; count: number } => {
  const c = x.shape.at(-1)!
  const count = x.data.length / c
  const mean = new Float64Array(c)
  const variance = new Float64Array(c)
  x.data.forEach((v, i) => void (mean[i % c]! += v / count))
  x.data.forEach((v, i) => void (variance[i % c]! += (v - mean[i % c]!) ** 2 / count))
  return { mean, variance, count }
}

/** Mean over H and W: [B, H, W, C] → [B, C]. */
export const meanHW = (x: Nd): Nd => {
  const [b, h, w, c] = x.shape as [number, number, number, number]
  const out = new Float64Array(b * c)
  x.data.forEach((v, i) => {
    const n = Math.floor(i / (h * w * c))
    out[n * c + (i % c)]! += v / (h * w)
  })
  return { data: out, shape: [b, c] }
}

/** [B, I] · W [I, O] (+ bias). */
export const dense = (x: Nd, kernel: Float64Array, bias?: Float64Array): Nd => {
  const [b, i] = x.shape as [number, number]
  const o = kernel.length / i
  const out = new Float64Array(b * o)
  for (let n = 0; n < b; n++)
    for (let j = 0; j < o; j++) {
      let s = bias === undefined ? 0 : bias[j]!
      for (let k = 0; k < i; k++) s += x.data[n * i + k]! * kernel[k * o + j]!
      out[n * o + j] = s
    }
  return { data: out, shape: [b, o] }
}

/** Channels [.., 2F] → the two halves [.., F]. */
export const halves = (x: Nd): [Nd, Nd] => {
  const c = x.shape.at(-1)!
  const f = c / 2
  const shape = [...x.shape.slice(0, -1), f]
  const a = new Float64Array(x.data.length / 2)
  const b = new Float64Array(x.data.length / 2)
  x.data.forEach((v, i) => {
    const j = i % c
    const row = Math.floor(i / c)
    if (j < f) a[row * f + j] = v
    else b[row * f + j - f] = v
  })
  return [{ data: a, shape }, { data: b, shape }]
}

/**
 * SK mixing as the official SK_Conv2D writes it: per channel, softmax over the two streams' logits
 * (exp / sum of exps, shifted by the max), weighted sum of the two streams.
 */
export const skMix = (streams: Nd, logits: Nd): Nd => {
  const [s0, s1] = halves(streams)
  const [l0, l1] = halves(logits)
  const f = s0.shape.at(-1)!
  const perImage = s0.data.length / s0.shape[0]!
  return map(s0, (v, i) => {
    const n = Math.floor(i / perImage)
    const a = l0.data[n * f + (i % f)]!
    const b = l1.data[n * f + (i % f)]!
    const top = Math.max(a, b)
    const ea = Math.exp(a - top)
    const eb = Math.exp(b - top)
    return (ea * v + eb * s1.data[i]!) / (ea + eb)
  })
}

/** 2×2 average pool, stride 1, TF "SAME": one row/column padded at the bottom/right, not counted. */
export const avgPool2Same = (x: Nd): Nd => {
  const [b, h, w, c] = x.shape as [number, number, number, number]
  const out = new Float64Array(x.data.length)
  for (let n = 0; n < b; n++)
    for (let y = 0; y < h; y++)
      for (let z = 0; z < w; z++)
        for (let k = 0; k < c; k++) {
          let s = 0
          let count = 0
          for (const yy of [y, y + 1])
            for (const zz of [z, z + 1])
              if (yy < h && zz < w) {
                s += x.data[((n * h + yy) * w + zz) * c + k]!
                count++
              }
          out[((n * h + y) * w + z) * c + k] = s / count
        }
  return { data: out, shape: x.shape }
}

/** The official stride-2 ResNet-D pool: FixedPadding(2) (one zero row/column at the end), 2×2 VALID. */
export const avgPool2PadValid = (x: Nd): Nd => {
  const [b, h, w, c] = x.shape as [number, number, number, number]
  const ho = Math.floor((h + 1 - 2) / 2) + 1
  const wo = Math.floor((w + 1 - 2) / 2) + 1
  const out = new Float64Array(b * ho * wo * c)
  for (let n = 0; n < b; n++)
    for (let y = 0; y < ho; y++)
      for (let z = 0; z < wo; z++)
        for (let k = 0; k < c; k++) {
          let s = 0
          for (const yy of [2 * y, 2 * y + 1])
            for (const zz of [2 * z, 2 * z + 1]) if (yy < h && zz < w) s += x.data[((n * h + yy) * w + zz) * c + k]!
          out[((n * ho + y) * wo + z) * c + k] = s / 4
        }
  return { data: out, shape: [b, ho, wo, c] }
}

/** SE_Layer: x · sigmoid(W₂ relu(W₁ mean(x) + b₁) + b₂), per image and channel. */
export const squeezeExcite = (x: Nd, [w1, b1]: ReadonlyArray<Float64Array>, [w2, b2]: ReadonlyArray<Float64Array>): Nd => {
  const gate = dense(relu(dense(meanHW(x), w1!, b1)), w2!, b2)
  const c = x.shape.at(-1)!
  const perImage = x.data.length / x.shape[0]!
  return map(x, (v, i) => v * sigmoid(gate.data[Math.floor(i / perImage) * c + (i % c)]!))
}

export interface BlockOptions {
  readonly stride: number
  readonly sk: boolean
  readonly se: boolean
  readonly epsilon: number
}

/**
 * One bottleneck block of the official code in inference: 1×1 → BN-ReLU → (3×3 or SK) → 1×1 → BN
 * (→ SE) + shortcut (identity, or ResNet-D avg-pool → 1×1 → BN with SK, or strided 1×1 → BN) → ReLU,
 * reading the weights of the model's layers named `${name}.…`.
 */
export const bottleneck = (m: tfl.LayersModel, name: string, x: Nd, { stride, sk, se, epsilon }: BlockOptions): Nd => {
  const w = (layer: string) => weightsOf(m, `${name}.${layer}`)
  const bn = (y: Nd, layer: string) => batchNorm(y, w(layer), epsilon)
  let y = relu(bn(conv2d(x, w("conv1")[0]!, 1, 1, 0), "bn1"))
  if (sk) {
    const streams = relu(bn(conv2d(y, w("conv2.conv")[0]!, 3, stride, 1), "conv2.bn"))
    const [a, b] = halves(streams)
    const g = relu(bn(dense(meanHW(add(a, b)), w("conv2.fc1")[0]!), "conv2.fc1.bn"))
    y = skMix(streams, dense(g, w("conv2.fc2")[0]!))
  } else {
    y = relu(bn(conv2d(y, w("conv2")[0]!, 3, stride, 1), "bn2"))
  }
  y = bn(conv2d(y, w("conv3")[0]!, 1, 1, 0), "bn3")
  if (se) y = squeezeExcite(y, w("se.fc1"), w("se.fc2"))
  const hasProjection = m.layers.some((l) => l.name === `${name}.downsample.1`)
  let shortcut = x
  if (hasProjection && sk) {
    const pooled = stride === 1 ? avgPool2Same(x) : avgPool2PadValid(x)
    shortcut = bn(conv2d(pooled, w("downsample.1")[0]!, 1, 1, 0), "downsample.2")
  } else if (hasProjection) {
    shortcut = bn(conv2d(x, w("downsample.0")[0]!, 1, stride, 0), "downsample.1")
  }
  return relu(add(y, shortcut))
}

/**
 * Gives every weight seeded values: kernels uniform with variance 1/fan-in, biases, β and moving means
 * in ±0.3, γ and moving variances in [0.5, 1.5).
 */
export const randomize = (m: tfl.LayersModel, seed: number): void => {
  const rng = seededRandom(seed)
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * rng.uniform()
  for (const layer of m.layers) {
    if (layer.weights.length === 0) continue
    const values = layer.weights.map((w) => {
      const shape = w.shape as Array<number>
      const kind = w.originalName.split("/").at(-1)!
      const fanIn = size(shape.slice(0, -1))
      const draw =
        kind === "kernel" ? () => uniform(-Math.sqrt(3 / fanIn), Math.sqrt(3 / fanIn))
        : kind === "gamma" || kind === "moving_variance" ? () => uniform(0.5, 1.5)
        : () => uniform(-0.3, 0.3)
      return Float32Array.from({ length: size(shape) }, draw)
    })
    const tensors = values.map((v, i) => tf.tensor(v, layer.weights[i]!.shape as Array<number>, "float32"))
    layer.setWeights(tensors)
    for (const t of tensors) t.dispose()
  }
}

export interface CountConfig {
  readonly depth: 18 | 34 | 50 | 101 | 152 | 200
  readonly widthMultiplier?: number
  readonly skRatio?: number
  readonly seRatio?: number
  readonly stem?: "imagenet" | "cifar"
  readonly shortcut?: "torchvision" | "official"
  readonly baseWidth?: number
  readonly blocksPerGroup?: ReadonlyArray<number>
}

const GROUPS: Record<CountConfig["depth"], readonly [kind: "basic" | "bottleneck", blocks: ReadonlyArray<number>]> = {
  18: ["basic", [2, 2, 2, 2]],
  34: ["basic", [3, 4, 6, 3]],
  50: ["bottleneck", [3, 4, 6, 3]],
  101: ["bottleneck", [3, 4, 23, 3]],
  152: ["bottleneck", [3, 8, 36, 3]],
  200: ["bottleneck", [3, 24, 36, 3]]
}

/**
 * Parameters of a ResNet configuration counted from the official architecture (tf2/resnet.py) by
 * hand: k·k·cin·cout per convolution, 2·C trainable (γ, β) plus 2·C statistics per batch norm, SK
 * 1×1 convolutions without bias, SE 1×1 convolutions with bias. `trainable` is what torchvision's
 * `sum(p.numel() for p in model.parameters())` counts (without the classifier); `all` adds the BN
 * moving mean and variance (every variable of a Keras or tfjs model).
 */
export const countParameters = (config: CountConfig): { trainable: number; all: number } => {
  const { depth, widthMultiplier = 1, skRatio = 0, seRatio = 0, stem = "imagenet", shortcut = "torchvision", baseWidth = 64 } = config
  const [kind, depthBlocks] = GROUPS[depth]
  const blocks = config.blocksPerGroup ?? depthBlocks
  let trainable = 0
  let statistics = 0
  const conv = (k: number, cin: number, cout: number) => void (trainable += k * k * cin * cout)
  const bn = (c: number) => {
    trainable += 2 * c
    statistics += 2 * c
  }
  const width = baseWidth * widthMultiplier
  if (stem === "cifar") {
    conv(3, 3, width)
    bn(width)
  } else if (skRatio > 0) {
    const half = Math.floor(width / 2)
    conv(3, 3, half)
    bn(half)
    conv(3, half, half)
    bn(half)
    conv(3, half, width)
    bn(width)
  } else {
    conv(7, 3, width)
    bn(width)
  }
  const expansion = kind === "basic" ? 1 : 4
  let channels = width
  blocks.forEach((count, group) => {
    const f = width * 2 ** group
    for (let i = 0; i < count; i++) {
      const stride = i === 0 && group > 0 ? 2 : 1
      if (kind === "basic") {
        conv(3, channels, f)
        bn(f)
        conv(3, f, f)
        bn(f)
      } else {
        conv(1, channels, f)
        bn(f)
        if (skRatio > 0) {
          const mid = Math.max(Math.floor(f * skRatio), 32)
          conv(3, f, 2 * f)
          bn(2 * f)
          conv(1, f, mid)
          bn(mid)
          conv(1, mid, 2 * f)
        } else {
          conv(3, f, f)
          bn(f)
        }
        conv(1, f, 4 * f)
        bn(4 * f)
      }
      const out = f * expansion
      if (stride !== 1 || channels !== out || (i === 0 && shortcut === "official")) {
        conv(1, channels, out)
        bn(out)
      }
      if (seRatio > 0) {
        const hidden = Math.max(1, Math.floor(f * seRatio))
        trainable += out * hidden + hidden + hidden * out + out
      }
      channels = out
    }
  })
  return { trainable, all: trainable + statistics }
}
