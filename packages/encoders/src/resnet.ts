import * as tfl from "@tensorflow/tfjs-layers"
import { BatchNormalization } from "./batchNorm.ts"
import { SkMix, SkStreamSum } from "./layers.ts"
import { describe, InvalidArgumentError, knownKeys, numberIn, oneOf } from "@simclr/core"

/**
 * @since 0.1.0
 * @category models
 */
export type ResNetDepth = 18 | 34 | 50 | 101 | 152 | 200

/**
 * @since 0.1.0
 * @category models
 */
export interface ResNetConfig {
  /** 18, 34 (basic blocks) or 50, 101, 152, 200 (bottleneck blocks). */
  readonly depth: ResNetDepth
  /** Integer scale of every convolution's width, as the official code (SimCLR v1: 1, 2, 4). Default 1. */
  readonly widthMultiplier?: number
  /** Selective kernels in the bottleneck 3×3 convolutions (official recipe 0.0625; 0 = off, the default). Turns on the ResNet-D deep stem and average-pool shortcuts, as the official code does. */
  readonly skRatio?: number
  /** Squeeze-and-excitation ratio (0 = off, the default). */
  readonly seRatio?: number
  /** `"imagenet"` (7×7 stride-2 conv + 3×3 max-pool; default) or `"cifar"` (3×3 stride-1 conv, no max-pool). */
  readonly stem?: "imagenet" | "cifar"
  /** Input [height, width, channels]; null sizes accept any. Default [null, null, 3]. */
  readonly inputShape?: readonly [number | null, number | null, number]
  /** Moving-average decay of batch norm statistics (tfjs `momentum`). Default 0.9 (= torch momentum 0.1). */
  readonly batchNormMomentum?: number
  /** Default 1e-5 (torch and the official code; tfjs's own default is 1e-3). */
  readonly batchNormEpsilon?: number
  /** Initialise the last batch norm γ of every residual block to 0 (official). Default true. */
  readonly zeroInitLastBlockGamma?: boolean
  /**
   * When a block gets a projection shortcut: `"torchvision"` (default) when its stride or width changes;
   * `"official"` in the first block of every group (adds one to ResNet-18/34's first group).
   */
  readonly shortcut?: "torchvision" | "official"
  /** Width of the first group before the multiplier. Default 64; smaller values make tiny test models. */
  readonly baseWidth?: number
  /** Blocks in each of the four groups, overriding `depth`'s (which still picks basic or bottleneck blocks). */
  readonly blocksPerGroup?: readonly [number, number, number, number]
  /** Seed of the weight initialisers (each layer derives its own). Default 0. */
  readonly seed?: number
  /** Model name. Default `resnet<depth>`. */
  readonly name?: string
}

const BLOCKS: Record<ResNetDepth, { readonly kind: "basic" | "bottleneck"; readonly layers: readonly [number, number, number, number] }> = {
  18: { kind: "basic", layers: [2, 2, 2, 2] },
  34: { kind: "basic", layers: [3, 4, 6, 3] },
  50: { kind: "bottleneck", layers: [3, 4, 6, 3] },
  101: { kind: "bottleneck", layers: [3, 4, 23, 3] },
  152: { kind: "bottleneck", layers: [3, 8, 36, 3] },
  200: { kind: "bottleneck", layers: [3, 24, 36, 3] }
}

const KEYS = [
  "depth",
  "widthMultiplier",
  "skRatio",
  "seRatio",
  "stem",
  "inputShape",
  "batchNormMomentum",
  "batchNormEpsilon",
  "zeroInitLastBlockGamma",
  "shortcut",
  "baseWidth",
  "blocksPerGroup",
  "seed",
  "name"
] as const

type Resolved = Required<Omit<ResNetConfig, "inputShape" | "name" | "blocksPerGroup">> & {
  readonly blocksPerGroup: readonly [number, number, number, number]
  readonly inputShape: readonly [number | null, number | null, number]
  readonly name: string
}

const resolve = (config: unknown): Resolved => {
  const c = knownKeys("config", config, KEYS)
  const depth = c["depth"]
  if (!(typeof depth === "number" && depth in BLOCKS)) {
    throw new InvalidArgumentError("config.depth", `must be one of 18, 34, 50, 101, 152, 200; got ${describe(depth)}`)
  }
  const inputShape = (c["inputShape"] ?? [null, null, 3]) as Resolved["inputShape"]
  if (
    !Array.isArray(inputShape) ||
    inputShape.length !== 3 ||
    !inputShape.every((v, i) => (v === null && i < 2) || (typeof v === "number" && Number.isInteger(v) && v >= 1))
  ) {
    throw new InvalidArgumentError("config.inputShape", `expected [height | null, width | null, channels], got ${describe(inputShape)}`)
  }
  const blocks = c["blocksPerGroup"] ?? BLOCKS[depth as ResNetDepth].layers
  if (!Array.isArray(blocks) || blocks.length !== 4 || !blocks.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new InvalidArgumentError("config.blocksPerGroup", `expected four integers ≥ 1, got ${describe(blocks)}`)
  }
  return {
    blocksPerGroup: blocks as unknown as readonly [number, number, number, number],
    depth: depth as ResNetDepth,
    widthMultiplier: numberIn("config.widthMultiplier", c["widthMultiplier"], 1, [1, 64], { integer: true }),
    skRatio: numberIn("config.skRatio", c["skRatio"], 0, [0, 1]),
    seRatio: numberIn("config.seRatio", c["seRatio"], 0, [0, 1]),
    stem: oneOf("config.stem", c["stem"], ["imagenet", "cifar"], "imagenet"),
    inputShape,
    batchNormMomentum: numberIn("config.batchNormMomentum", c["batchNormMomentum"], 0.9, [0, 1]),
    batchNormEpsilon: numberIn("config.batchNormEpsilon", c["batchNormEpsilon"], 1e-5, [0, 1], { openMin: true }),
    zeroInitLastBlockGamma: c["zeroInitLastBlockGamma"] === undefined ? true : Boolean(c["zeroInitLastBlockGamma"]),
    shortcut: oneOf("config.shortcut", c["shortcut"], ["torchvision", "official"], "torchvision"),
    baseWidth: numberIn("config.baseWidth", c["baseWidth"], 64, [1, 4096], { integer: true }),
    seed: numberIn("config.seed", c["seed"], 0, [0, Number.MAX_SAFE_INTEGER], { integer: true }),
    name: typeof c["name"] === "string" ? c["name"] : `resnet${depth as number}`
  }
}

/** Builds layers with names, official initialisers and per-layer seeds. */
class Builder {
  private counter = 0
  private readonly r: Resolved
  constructor(r: Resolved) {
    this.r = r
  }

  /** Never 0: tfjs treats a seed of 0 as "no seed" and draws from Math.random. */
  private nextSeed(): number {
    return this.r.seed * 1000 + this.counter++ + 1
  }

  /** VarianceScaling(scale 1, fan_in, truncated normal) as TF2 (σ corrected by 0.8796 for the truncation). */
  private varianceScaling(fanIn: number) {
    return tfl.initializers.truncatedNormal({ mean: 0, stddev: Math.sqrt(1 / fanIn) / 0.87962566103423978, seed: this.nextSeed() })
  }

  /**
   * A k×k convolution without bias, torch padding k // 2 on every side. At stride 1 (odd k) that is TF's
   * "same"; at stride 2 TF's "same" pads less on the top/left of even sizes than torch, so the padding
   * is explicit there, then "valid". (An explicit pad at stride 1 cost a full copy forward and a slice
   * backward per convolution.)
   */
  conv(x: tfl.SymbolicTensor, filters: number, kernel: number, stride: number, name: string): tfl.SymbolicTensor {
    const pad = Math.floor(kernel / 2)
    const same = stride === 1 && kernel % 2 === 1
    const input = pad > 0 && !same ? (tfl.layers.zeroPadding2d({ padding: [[pad, pad], [pad, pad]], name: `${name}.pad` }).apply(x) as tfl.SymbolicTensor) : x
    const channels = x.shape[3] as number
    return tfl.layers
      .conv2d({
        filters,
        kernelSize: kernel,
        strides: stride,
        padding: same ? "same" : "valid",
        useBias: false,
        kernelInitializer: this.varianceScaling(kernel * kernel * channels),
        name
      })
      .apply(input) as tfl.SymbolicTensor
  }

  bn(x: tfl.SymbolicTensor, name: string, zeroGamma = false): tfl.SymbolicTensor {
    return new BatchNormalization({
      axis: -1,
      momentum: this.r.batchNormMomentum,
      epsilon: this.r.batchNormEpsilon,
      gammaInitializer: zeroGamma ? "zeros" : "ones",
      name
    }).apply(x) as tfl.SymbolicTensor
  }

  relu(x: tfl.SymbolicTensor, name: string): tfl.SymbolicTensor {
    return tfl.layers.reLU({ name }).apply(x) as tfl.SymbolicTensor
  }

  dense(x: tfl.SymbolicTensor, units: number, useBias: boolean, name: string): tfl.SymbolicTensor {
    return tfl.layers
      .dense({ units, useBias, kernelInitializer: this.varianceScaling(x.shape[1] as number), name })
      .apply(x) as tfl.SymbolicTensor
  }

  /** Squeeze-and-excitation: x · sigmoid(W₂ relu(W₁ mean(x))), hidden max(1, ⌊filters·ratio⌋). */
  se(x: tfl.SymbolicTensor, filters: number, name: string): tfl.SymbolicTensor {
    const channels = x.shape[3] as number
    let s = tfl.layers.globalAveragePooling2d({ name: `${name}.pool` }).apply(x) as tfl.SymbolicTensor
    s = this.relu(this.dense(s, Math.max(1, Math.floor(filters * this.r.seRatio)), true, `${name}.fc1`), `${name}.relu`)
    s = tfl.layers.activation({ activation: "sigmoid", name: `${name}.gate` }).apply(this.dense(s, channels, true, `${name}.fc2`)) as tfl.SymbolicTensor
    s = tfl.layers.reshape({ targetShape: [1, 1, channels], name: `${name}.reshape` }).apply(s) as tfl.SymbolicTensor
    return tfl.layers.multiply({ name: `${name}.scale` }).apply([x, s]) as tfl.SymbolicTensor
  }

  /** Selective kernel 3×3 (official SK_Conv2D): two streams, mixed per channel by a softmax. */
  sk(x: tfl.SymbolicTensor, filters: number, stride: number, name: string): tfl.SymbolicTensor {
    const streams = this.relu(this.bn(this.conv(x, 2 * filters, 3, stride, `${name}.conv`), `${name}.bn`), `${name}.relu`)
    let g = new SkStreamSum({ name: `${name}.sum` }).apply(streams) as tfl.SymbolicTensor
    g = tfl.layers.globalAveragePooling2d({ name: `${name}.pool` }).apply(g) as tfl.SymbolicTensor
    const mid = Math.max(Math.floor(filters * this.r.skRatio), 32)
    g = this.relu(this.bn(this.dense(g, mid, false, `${name}.fc1`), `${name}.fc1.bn`), `${name}.fc1.relu`)
    const logits = this.dense(g, 2 * filters, false, `${name}.fc2`)
    return new SkMix({ name: `${name}.mix` }).apply([streams, logits]) as tfl.SymbolicTensor
  }

  shortcut(x: tfl.SymbolicTensor, filtersOut: number, stride: number, name: string): tfl.SymbolicTensor {
    if (this.r.skRatio > 0) {
      // ResNet-D: average-pool, then a stride-1 1×1 projection.
      const pooled =
        stride > 1
          ? (tfl.layers.averagePooling2d({ poolSize: 2, strides: stride, padding: "valid", name: `${name}.0` }).apply(
              tfl.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `${name}.0.pad` }).apply(x)
            ) as tfl.SymbolicTensor)
          : (tfl.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: "same", name: `${name}.0` }).apply(x) as tfl.SymbolicTensor)
      return this.bn(this.conv(pooled, filtersOut, 1, 1, `${name}.1`), `${name}.2`)
    }
    return this.bn(this.conv(x, filtersOut, 1, stride, `${name}.0`), `${name}.1`)
  }

  block(x: tfl.SymbolicTensor, kind: "basic" | "bottleneck", filters: number, stride: number, first: boolean, name: string): tfl.SymbolicTensor {
    const r = this.r
    const expansion = kind === "basic" ? 1 : 4
    const inChannels = x.shape[3] as number
    const needsProjection = stride !== 1 || inChannels !== filters * expansion || (first && r.shortcut === "official")
    const shortcut = needsProjection ? this.shortcut(x, filters * expansion, stride, `${name}.downsample`) : x
    let y: tfl.SymbolicTensor
    if (kind === "basic") {
      y = this.relu(this.bn(this.conv(x, filters, 3, stride, `${name}.conv1`), `${name}.bn1`), `${name}.relu1`)
      y = this.bn(this.conv(y, filters, 3, 1, `${name}.conv2`), `${name}.bn2`, r.zeroInitLastBlockGamma)
    } else {
      y = this.relu(this.bn(this.conv(x, filters, 1, 1, `${name}.conv1`), `${name}.bn1`), `${name}.relu1`)
      y =
        r.skRatio > 0
          ? this.sk(y, filters, stride, `${name}.conv2`)
          : this.relu(this.bn(this.conv(y, filters, 3, stride, `${name}.conv2`), `${name}.bn2`), `${name}.relu2`)
      y = this.bn(this.conv(y, filters * 4, 1, 1, `${name}.conv3`), `${name}.bn3`, r.zeroInitLastBlockGamma)
    }
    if (r.seRatio > 0) y = this.se(y, filters, `${name}.se`)
    const sum = tfl.layers.add({ name: `${name}.add` }).apply([y, shortcut]) as tfl.SymbolicTensor
    return this.relu(sum, `${name}.relu`)
  }
}

/**
 * A ResNet encoder as a `tf.LayersModel`: NHWC images → the globally average-pooled features h
 * (2048·w for ResNet-50+, 512·w for 18/34). Official SimCLR structure (torchvision v1.5 blocks: stride on
 * the 3×3 conv) with torch's symmetric padding k // 2: TF's "same" at stride 1 (identical there), an
 * explicit `ZeroPadding2D` then "valid" at stride 2 (where TF's "same" would pad less on the top/left of
 * even sizes) and before the max-pool. So torchvision weights give torchvision's outputs; layer names
 * follow torchvision (`conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample.0`, …). With `skRatio`, the
 * ResNet-D shortcut average-pools as the official code does: 2×2 "same" at stride 1 (padding not
 * counted), and at stride 2 one zero row and column appended then 2×2 "valid" (on odd sizes the last
 * windows average over the padded zeros).
 *
 * @example
 * ```ts
 * const encoder = resnet({ depth: 18, stem: "cifar" })
 * const h = encoder.predict(tf.zeros([8, 32, 32, 3])) // [8, 512]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const resnet = (config: ResNetConfig): tfl.LayersModel => {
  const r = resolve(config)
  const b = new Builder(r)
  const { kind } = BLOCKS[r.depth]
  const layers = r.blocksPerGroup
  const width = r.baseWidth * r.widthMultiplier
  const input = tfl.input({ shape: [...r.inputShape], name: "images" })
  let x: tfl.SymbolicTensor
  if (r.stem === "cifar") {
    x = b.relu(b.bn(b.conv(input, width, 3, 1, "conv1"), "bn1"), "relu")
  } else {
    if (r.skRatio > 0) {
      // ResNet-D deep stem: 3×3 stride 2 (w/2) → 3×3 (w/2) → 3×3 (w).
      x = b.relu(b.bn(b.conv(input, Math.floor(width / 2), 3, 2, "conv1.0"), "bn1.0"), "relu.0")
      x = b.relu(b.bn(b.conv(x, Math.floor(width / 2), 3, 1, "conv1.1"), "bn1.1"), "relu.1")
      x = b.relu(b.bn(b.conv(x, width, 3, 1, "conv1"), "bn1"), "relu")
    } else {
      x = b.relu(b.bn(b.conv(input, width, 7, 2, "conv1"), "bn1"), "relu")
    }
    // Values are ≥ 0 after the ReLU, so zero padding equals torch's −∞ padding for the max.
    x = tfl.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: "maxpool.pad" }).apply(x) as tfl.SymbolicTensor
    x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "valid", name: "maxpool" }).apply(x) as tfl.SymbolicTensor
  }
  layers.forEach((count, group) => {
    for (let i = 0; i < count; i++) {
      const stride = i === 0 && group > 0 ? 2 : 1
      x = b.block(x, kind, width * 2 ** group, stride, i === 0, `layer${group + 1}.${i}`)
    }
  })
  const h = tfl.layers.globalAveragePooling2d({ name: "avgpool" }).apply(x) as tfl.SymbolicTensor
  return tfl.model({ inputs: input, outputs: h, name: r.name })
}
