import * as tfl from "@tensorflow/tfjs-layers"
import { describe, InvalidArgumentError, knownKeys, numberIn, shapeOf } from "@simclr/core"
import { resnet, type ResNetConfig } from "@simclr/encoders"
import { supervisedHead } from "@simclr/heads"

/**
 * Options of {@link studentFrom}.
 *
 * @since 0.1.0
 * @category models
 */
export interface StudentOptions {
  /**
   * The student's encoder, an `@simclr/encoders` `resnet` config: the teacher's own (self-distillation)
   * or a narrower / shallower one (`widthMultiplier`, `baseWidth`, `depth`, `blocksPerGroup`).
   */
  readonly encoder: ResNetConfig
  /** Number of classes, an integer ≥ 1: the teacher's (check with {@link assertSameClasses}). */
  readonly numClasses: number
  /**
   * A pre-trained encoder (for example a pre-training run's `encoder`) whose weights, batch-norm moving
   * statistics included, are copied into the student's encoder by name. It must have exactly the
   * student encoder's weights (same names, shapes and dtypes). Without it the student starts at random.
   */
  readonly pretrained?: tfl.LayersModel
  /**
   * Seed of the supervised head's initialiser, and of the encoder's when `encoder.seed` is not given.
   * An integer ≥ 0; default 0. Same seed, same initial weights.
   */
  readonly seed?: number
  /** Model name. Default `"student"`. */
  readonly name?: string
}

const KEYS = ["encoder", "numClasses", "pretrained", "seed", "name"] as const

/** The first three names, and how many more. */
const list = (names: Array<string>): string => `${names.slice(0, 3).join(", ")}${names.length > 3 ? ` and ${names.length - 3} more` : ""}`

/** Copies `source`'s weights into `target`'s by name, or throws naming every mismatch. */
const copyWeights = (target: tfl.LayersModel, source: tfl.LayersModel): void => {
  if (typeof source !== "object" || source === null || !Array.isArray((source as { weights?: unknown }).weights)) {
    throw new InvalidArgumentError("options.pretrained", `expected a tf.LayersModel (a pre-trained encoder), got ${describe(source)}`)
  }
  const given = new Map(source.weights.map((w) => [w.originalName, w]))
  const problems: Array<string> = []
  const missing: Array<string> = []
  for (const w of target.weights) {
    const from = given.get(w.originalName)
    if (from === undefined) missing.push(w.originalName)
    else if (from.shape.join(",") !== w.shape.join(",") || from.dtype !== w.dtype) {
      problems.push(`${w.originalName} is ${from.dtype} ${shapeOf(from.shape as Array<number>)} in pretrained, ${w.dtype} ${shapeOf(w.shape as Array<number>)} in the student`)
    }
    given.delete(w.originalName)
  }
  if (missing.length > 0) problems.push(`missing ${missing.length} of the student's weights (${list(missing)})`)
  if (given.size > 0) problems.push(`has ${given.size} weights the student lacks (${list([...given.keys()])})`)
  if (problems.length > 0) {
    throw new InvalidArgumentError(
      "options.pretrained",
      `does not match the student's encoder config: ${problems.slice(0, 4).join("; ")}${problems.length > 4 ? `; and ${problems.length - 4} more` : ""}. A narrower or shallower student cannot start from this encoder: build it at random (no pretrained), or give the encoder's own config`
    )
  }
  for (const w of target.weights) w.write(source.weights.find((s) => s.originalName === w.originalName)!.read())
}

/**
 * A student for distillation: an `@simclr/encoders` ResNet built from `encoder` and an `@simclr/heads`
 * supervised head (one dense layer, N(0, 0.01²) kernel) on its output h, as a `tf.LayersModel`
 * images [B, H, W, C] → logits [B, numClasses]. Initialised at random (seeded) or, with `pretrained`,
 * from a pre-trained encoder whose weights are copied by name (the head stays random).
 *
 * The model is built as `simclr finetune` builds its classifier (an input layer, the encoder as a nested
 * model, the supervised head applied to its output), so it trains, saves and loads the same way:
 * `model.save(...)` / `tfl.loadLayersModel(...)` with `@simclr/encoders` and `@simclr/heads` imported.
 * Its weights are named `<encoder layer>/...` and `head_supervised.dense/kernel`, `/bias`.
 *
 * @example
 * ```ts
 * const student = studentFrom({ encoder: { depth: 18, stem: "cifar", inputShape: [28, 28, 3], baseWidth: 32 }, numClasses: 10, seed: 1 })
 * assertSameClasses(teacher, student)
 * ```
 *
 * @throws {InvalidArgumentError} on a bad encoder config (named `options.encoder.*`), `numClasses`
 *   that is not an integer ≥ 1, a `pretrained` encoder whose weights differ from the student
 *   encoder's (every mismatch named), a bad seed, or an unknown option.
 * @since 0.1.0
 * @category models
 */
export const studentFrom = (options: StudentOptions): tfl.LayersModel => {
  if (options === undefined) throw new InvalidArgumentError("options", "is required: { encoder, numClasses, pretrained?, seed?, name? }")
  const o = knownKeys("options", options, KEYS)
  if (typeof o["encoder"] !== "object" || o["encoder"] === null) {
    throw new InvalidArgumentError("options.encoder", `is required: an @simclr/encoders resnet config such as { depth: 18 }, got ${describe(o["encoder"])}`)
  }
  if (o["numClasses"] === undefined) throw new InvalidArgumentError("options.numClasses", "is required: the number of classes, an integer ≥ 1")
  const numClasses = numberIn("options.numClasses", o["numClasses"], 0, [1, 1 << 24], { integer: true })
  const seed = numberIn("options.seed", o["seed"], 0, [0, Number.MAX_SAFE_INTEGER], { integer: true })
  const name = o["name"] === undefined ? "student" : o["name"]
  if (typeof name !== "string" || name === "") throw new InvalidArgumentError("options.name", `must be a non-empty string, got ${describe(name)}`)
  const config = o["encoder"] as ResNetConfig
  let encoder: tfl.LayersModel
  try {
    encoder = resnet({ ...config, seed: config.seed ?? seed })
  } catch (error) {
    // resnet names its argument "config.*"; here it is options.encoder.
    if (error instanceof InvalidArgumentError) throw new InvalidArgumentError(`options.encoder${error.argument.slice("config".length)}`, error.message.slice(error.argument.length + 2))
    throw error
  }
  try {
    if (o["pretrained"] !== undefined) copyWeights(encoder, o["pretrained"] as tfl.LayersModel)
    const features = encoder.outputs[0]!.shape[1] as number
    // [H | null, W | null, C]: tfjs-layers' input accepts null (any size) though its type says number.
    const input = tfl.input({ shape: encoder.inputs[0]!.shape.slice(1) as Array<number>, name: `${name}_images` })
    const h = encoder.apply(input) as tfl.SymbolicTensor
    const logits = supervisedHead(numClasses, { inputDim: features, seed }).apply(h) as tfl.SymbolicTensor
    return tfl.model({ inputs: input, outputs: logits, name })
  } catch (error) {
    encoder.dispose()
    throw error
  }
}
