/**
 * Run configurations: the official recipes as presets, and a Schema that checks a config from a file
 * or flags, naming every bad option with what it allows.
 *
 * @since 0.1.0
 */
import { augmentPresets, type PresetName, type ViewConfig } from "@simclr/augment"
import { Array as Arr, Data, Effect, Schema, SchemaAST, SchemaIssue } from "effect"
import type { PretrainConfig } from "./pretrain.ts"

const Positive = Schema.Number.check(Schema.isGreaterThan(0))
const NonNegative = Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))
const Count = (min: number) => Schema.Int.check(Schema.isGreaterThanOrEqualTo(min))
const Probability = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))

const Encoder = Schema.Struct({
  depth: Schema.Literals([18, 34, 50, 101, 152, 200]),
  widthMultiplier: Schema.optionalKey(Count(1)),
  skRatio: Schema.optionalKey(Probability),
  seRatio: Schema.optionalKey(Probability),
  stem: Schema.optionalKey(Schema.Literals(["imagenet", "cifar"])),
  batchNormMomentum: Schema.optionalKey(Probability),
  batchNormEpsilon: Schema.optionalKey(Positive),
  zeroInitLastBlockGamma: Schema.optionalKey(Schema.Boolean),
  shortcut: Schema.optionalKey(Schema.Literals(["torchvision", "official"])),
  baseWidth: Schema.optionalKey(Count(1)),
  blocksPerGroup: Schema.optionalKey(Schema.Tuple([Count(1), Count(1), Count(1), Count(1)])),
  seed: Schema.optionalKey(Count(0))
})

const Head = Schema.Struct({
  mode: Schema.optionalKey(Schema.Literals(["none", "linear", "nonlinear"])),
  numLayers: Schema.optionalKey(Count(1)),
  hiddenDim: Schema.optionalKey(Count(1)),
  outputDim: Schema.optionalKey(Count(1)),
  lastBatchNormCenter: Schema.optionalKey(Schema.Boolean),
  batchNormMomentum: Schema.optionalKey(Probability),
  batchNormEpsilon: Schema.optionalKey(Positive),
  seed: Schema.optionalKey(Count(0))
})

const Optimizer = Schema.Struct({
  name: Schema.Literals(["lars", "sgd", "adam", "adamw"]),
  learningRate: NonNegative,
  scaling: Schema.Literals(["linear", "sqrt"]),
  weightDecay: NonNegative,
  momentum: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1))),
  warmupEpochs: Schema.optionalKey(NonNegative)
})

const V2 = Schema.Struct({
  queueSize: Count(1),
  momentum: Probability,
  momentumSchedule: Schema.optionalKey(Schema.Literals(["constant", "cosine"])),
  positives: Schema.optionalKey(Schema.Literals(["online", "momentum"]))
})

/** A struct that allows `keys` (each optional, of any value) and no other key. */
const keysOnly = (keys: ReadonlyArray<string>) => Schema.Struct(Object.fromEntries(keys.map((key) => [key, Schema.optionalKey(Schema.Unknown)])))

/**
 * The keys of `@simclr/augment`'s `ViewConfig` and its parts, so that a mistyped one is refused with the
 * others before any work; the values are checked by `@simclr/augment` when the first view is drawn (a
 * test keeps these lists equal to the ones it accepts).
 */
const ViewConfigKeys = Schema.Struct({
  size: Schema.optionalKey(Schema.Unknown),
  crop: Schema.optionalKey(Schema.Union([Schema.Literals(["center", false]), keysOnly(["sampler", "area", "ratio", "minObjectCovered", "maxAttempts", "method", "style"])])),
  flip: Schema.optionalKey(Schema.Unknown),
  color: Schema.optionalKey(Schema.Union([Schema.Literal(false), keysOnly(["strength", "p", "grayscaleP", "brightness", "style", "randomOrder"])])),
  blur: Schema.optionalKey(Schema.Union([Schema.Literal(false), keysOnly(["p", "sigma", "kernelFraction", "padding", "sigmaPer"])])),
  validateRange: Schema.optionalKey(Schema.Unknown)
})

/**
 * The Schema of a pre-training config (`config.json`). Augmentations are a preset name of
 * `@simclr/augment` or a full `ViewConfig` object (its keys checked here, its values by
 * `@simclr/augment` itself when used).
 *
 * @category config
 * @since 0.1.0
 */
export const PretrainConfigSchema = Schema.Struct({
  imageSize: Count(8),
  batchSize: Count(2),
  epochs: Count(1),
  seed: Count(0),
  temperature: Positive,
  encoder: Encoder,
  head: Head,
  optimizer: Optimizer,
  augment: Schema.Union([Schema.Literals(["official", "torchvision", "cifar10", "finetune", "eval"]), ViewConfigKeys]),
  checkpointEvery: Schema.optionalKey(Count(1)),
  keepCheckpoints: Schema.optionalKey(Count(1)),
  logEvery: Schema.optionalKey(Count(1)),
  decodeSize: Schema.optionalKey(Count(8)),
  decodeConcurrency: Schema.optionalKey(Count(1)),
  decodeCache: Schema.optionalKey(Schema.String),
  trainSteps: Schema.optionalKey(Count(1)),
  maxSteps: Schema.optionalKey(Count(1)),
  examplesPerEpoch: Schema.optionalKey(Count(1)),
  linearProbe: Schema.optionalKey(Schema.Boolean),
  chunkSize: Schema.optionalKey(Count(1)),
  v2: Schema.optionalKey(V2)
})

/**
 * A config that failed its Schema: the message lists every bad option with its path and what it allows.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidConfigError extends Data.TaggedError("InvalidConfigError")<{
  readonly source: string
  readonly issues: string
}> {
  override get message(): string {
    return `invalid configuration (${this.source}):\n${this.issues}`
  }
}

/** Edits (insertions, deletions, substitutions) that turn `a` into `b`. */
const editDistance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_v, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)))
    previous = current
  }
  return previous[b.length]!
}

/**
 * The allowed key a mistyped one most likely meant: the nearest by edit distance, when it is at most two
 * edits and at most a third of the key's length away (`temprature` → `temperature`, `batch_size` →
 * `batchSize`; `bogus` → none). Ties go to the first allowed key.
 *
 * @category config
 * @since 0.1.0
 */
export const nearestKey = (key: string, allowed: ReadonlyArray<string>): string | undefined => {
  let best: { key: string; distance: number } | undefined
  for (const candidate of allowed) {
    const distance = editDistance(key, candidate)
    if (best === undefined || distance < best.distance) best = { key: candidate, distance }
  }
  return best !== undefined && best.distance <= Math.min(2, key.length / 3) ? best.key : undefined
}

/** The message for a key the struct `ast` does not declare, at `path` (the key last). */
const unknownKeyMessage = (path: ReadonlyArray<PropertyKey>, ast: SchemaAST.AST): string => {
  const key = String(path.at(-1))
  const allowed = SchemaAST.isObjects(ast) ? ast.propertySignatures.map((p) => String(p.name)) : []
  const suggestion = nearestKey(key, allowed)
  const parent = path.slice(0, -1).map(String).join(".")
  return `unknown key "${path.map(String).join(".")}"${suggestion === undefined ? "" : ` (did you mean "${suggestion}"?)`}; allowed keys${
    parent === "" ? "" : ` of ${parent}`
  }: ${allowed.join(", ")}`
}

/** The issue tree with every excess property (`onExcessProperty: "error"`) given a message that names it, the key it probably meant and the allowed keys. */
const withKeyMessages = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>): SchemaIssue.Issue => {
  switch (issue._tag) {
    case "Pointer": {
      const at = [...path, ...issue.path]
      const inner = issue.issue._tag === "UnexpectedKey" ? new SchemaIssue.InvalidValue({ message: unknownKeyMessage(at, issue.issue.ast) }) : withKeyMessages(issue.issue, at)
      return new SchemaIssue.Pointer(issue.path, inner)
    }
    case "Composite":
      return new SchemaIssue.Composite(issue.ast, Arr.map(issue.issues, (i) => withKeyMessages(i, path)))
    case "AnyOf":
      // An augment object (a union with the preset names) holds structs too.
      return new SchemaIssue.AnyOf(issue.ast, Arr.map(issue.issues, (i) => withKeyMessages(i, path)))
    default:
      return issue
  }
}

const formatIssue = SchemaIssue.makeFormatterDefault()

/**
 * Checks an unknown value (parsed JSON or YAML, merged flags) against `PretrainConfigSchema`. A key no
 * struct of the Schema declares, at any depth, is an error like any bad value: the message names it with
 * its path, the key it probably meant and the allowed keys.
 *
 * @category config
 * @since 0.1.0
 */
export const decodePretrainConfig = (input: unknown, source = "config"): Effect.Effect<PretrainConfig, InvalidConfigError> =>
  Schema.decodeUnknownEffect(PretrainConfigSchema)(input, { errors: "all", onExcessProperty: "error" }).pipe(
    Effect.map((c) => c as unknown as PretrainConfig),
    Effect.mapError((error) => new InvalidConfigError({ source, issues: formatIssue(withKeyMessages(error.issue, [])) }))
  )

/**
 * @category config
 * @since 0.1.0
 */
export type PresetId = "demo" | "fashion-mnist" | "fashion-mnist-v2" | "cifar10" | "imagenet"

/**
 * The preset names, in `--preset` order.
 *
 * @category config
 * @since 0.1.0
 */
export const PRESET_IDS: ReadonlyArray<PresetId> = ["demo", "fashion-mnist", "fashion-mnist-v2", "cifar10", "imagenet"]

/**
 * The SimCLR v2 block `--v2` adds to a preset without one: the paper's momentum network and memory
 * queue sized for CPU batches (64–512 images): 4,096 keys (the two views of 8 steps of a 256-image
 * batch; 2 MiB at 128-d float32) and m = 0.99, whose averaging horizon (~100 steps) fits
 * runs of hundreds to thousands of steps (MoCo's 65,536 and 0.999 are for ImageNet runs of 10⁵–10⁶
 * steps). The v2 presets also use the paper's 3-layer head (fine-tune from its first layer).
 *
 * @category config
 * @since 0.1.0
 */
export const v2Defaults = (): NonNullable<PretrainConfig["v2"]> => ({ queueSize: 4096, momentum: 0.99, momentumSchedule: "constant", positives: "online" })

/**
 * The recipes: `cifar10` and `imagenet` are the official ones (reference §2.7: CIFAR-10 ResNet-18 with the
 * CIFAR stem, colour strength 0.5, no blur, τ 0.5, LARS lr 1.0 linear, wd 1e-4, B 512, 1000 epochs;
 * ImageNet ResNet-50, τ 0.1, lr 0.075 sqrt, wd 1e-6, B 4096, 100 epochs). `demo` and `fashion-mnist`
 * are sized for a CPU: a narrow one-block-per-group ResNet (8 or 16 channels wide) trained with Adam, which
 * moves faster than LARS over the few hundred to few thousand steps a CPU affords. `demo` takes 24×24
 * images, τ 0.2 and crops of at least 35 % of the image (small objects stay in view); `fashion-mnist`
 * takes 28×28 images (gray, so the colour jitter only changes brightness and contrast) and a 16-wide
 * network (h is 128-d), batch 256, τ 0.2, two epochs: 14.4 minutes on the oneDNN backend of a 2-core
 * machine, linear top-1 84.4 % on h. `fashion-mnist-v2` is the same run as SimCLR v2: the 3-layer head,
 * a momentum network and a 4,096-key memory queue (`v2Defaults()`), with MoCo's positives
 * (`positives: "momentum"`), which measured above the paper's in-batch positives on Fashion-MNIST
 * (linear top-1 on h 81.3 against 80.5 % at equal wall time; the `simclr` README's v1-against-v2 table).
 *
 * @category config
 * @since 0.1.0
 */
export const pretrainPresets: Record<PresetId, () => PretrainConfig> = {
  demo: () => ({
    imageSize: 24,
    batchSize: 128,
    epochs: 8,
    seed: 0,
    temperature: 0.2,
    encoder: { depth: 18, stem: "cifar", baseWidth: 8, blocksPerGroup: [1, 1, 1, 1] },
    head: { numLayers: 2, outputDim: 64 },
    optimizer: { name: "adam", learningRate: 0.004, scaling: "linear", weightDecay: 1e-6, warmupEpochs: 0.5 },
    augment: { size: [24, 24], crop: { sampler: "tf", area: [0.35, 1], method: "bilinear" }, flip: 0.5, color: { strength: 0.5, grayscaleP: 0.2 }, blur: false }
  }),
  "fashion-mnist": () => ({
    imageSize: 28,
    batchSize: 256,
    epochs: 2,
    seed: 0,
    temperature: 0.2,
    encoder: { depth: 18, stem: "cifar", baseWidth: 16, blocksPerGroup: [1, 1, 1, 1] },
    head: { numLayers: 2, outputDim: 128 },
    optimizer: { name: "adam", learningRate: 0.004, scaling: "linear", weightDecay: 1e-6, warmupEpochs: 0.25 },
    augment: { size: [28, 28], crop: { sampler: "tf", area: [0.2, 1], method: "bilinear" }, flip: 0.5, color: { strength: 0.5, grayscaleP: 0.2 }, blur: false }
  }),
  "fashion-mnist-v2": () => ({
    ...pretrainPresets["fashion-mnist"](),
    head: { numLayers: 3, outputDim: 128 },
    v2: { ...v2Defaults(), positives: "momentum" }
  }),
  cifar10: () => ({
    imageSize: 32,
    batchSize: 512,
    epochs: 1000,
    seed: 0,
    temperature: 0.5,
    encoder: { depth: 18, stem: "cifar" },
    head: { numLayers: 2, outputDim: 128 },
    optimizer: { name: "lars", learningRate: 1.0, scaling: "linear", weightDecay: 1e-4, warmupEpochs: 10 },
    augment: "cifar10"
  }),
  imagenet: () => ({
    imageSize: 224,
    batchSize: 4096,
    epochs: 100,
    seed: 0,
    temperature: 0.1,
    encoder: { depth: 50 },
    head: { numLayers: 3, outputDim: 128 },
    optimizer: { name: "lars", learningRate: 0.075, scaling: "sqrt", weightDecay: 1e-6, warmupEpochs: 10 },
    augment: "official",
    decodeSize: 256
  })
}

/**
 * The augmentation a config names, at the config's image size (the `cifar10` preset is made for 32 px).
 *
 * @category config
 * @since 0.1.0
 */
export const viewConfigOf = (config: Pick<PretrainConfig, "augment" | "imageSize">): ViewConfig => {
  const a = config.augment
  const size: [number, number] = [config.imageSize, config.imageSize]
  if (typeof a !== "string") return { ...(a as ViewConfig), size }
  return { ...augmentPresets[a as PresetName](config.imageSize), size }
}
