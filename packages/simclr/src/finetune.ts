/**
 * Fine-tuning a pre-trained encoder on the labels you have (SimCLR's semi-supervised protocol): a
 * class-balanced seeded label subset, a supervised head on a chosen layer of the projection head
 * (`ftProjSelector`), optional freezing of the first blocks, crop + flip augmentation, softmax
 * cross-entropy, and a test accuracy at the end.
 *
 * @since 0.1.0
 */
import { augmentPresets, simclrView } from "@simclr/augment"
import { batchSeed, type DataStreamError, type IndexedSource, imageBatches, type SourceLike, toTensors } from "@simclr/data-stream"
import { simclrModel, supervisedHead } from "@simclr/heads"
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { Effect, Stream } from "effect"
import { appendFile, mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { type CheckpointError, writeCheckpoint } from "./checkpoint.ts"
import { type Accuracy, accuracyOf } from "./evaluate.ts"
import { labelSubset } from "./labelSubset.ts"
import { loadRun, requireRunFolder } from "./loadRun.ts"
import { extractFeatures } from "./extractFeatures.ts"
import { applyGradients } from "./internal/applyGradients.ts"
import { resolveSource } from "./internal/resolveSource.ts"
import { disposeState } from "./optimizers.ts"
import { makeOptimizer, type OptimizerConfig, RunFolderError } from "./pretrain.ts"
import { warmupCosine } from "./schedules.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface FinetuneConfig {
  readonly epochs: number
  readonly batchSize: number
  readonly seed: number
  /** Official 1 % / 10 % recipe: LARS, lr 0.005 sqrt, no weight decay. */
  readonly optimizer: OptimizerConfig
  /** Which projection-head layer the classifier reads: 0 = h (v1), 1 = the first head layer (v2). */
  readonly ftProjSelector: number
  /**
   * Freeze the stem and groups up to this block (official `fine_tune_after_block`): −1 trains
   * everything, 0 freezes the stem, 1–4 also layer1–layer4 (4 = only the head and classifier train).
   * Frozen weights are not updated; their batch norms still see batch statistics.
   */
  readonly freezeUpTo: number
  /** Use this share of each class's labels (0.01, 0.1) or this many per class; default all labels. */
  readonly labelFraction?: number
  readonly labelsPerClass?: number
  /**
   * Or exactly these images (the official code's 1 % / 10 % ImageNet subsets are such lists): each entry
   * is an image id of the source (`batch.ids`: a file path, or `<source>#<index>`) or a file's base name.
   */
  readonly labelIds?: ReadonlyArray<string>
}

/** The source indices of listed image ids (full ids or base names); unknown or unlabeled ones are an error. */
const idsToIndices = (src: IndexedSource, ids: ReadonlyArray<string>, run: string): Effect.Effect<Array<number>, RunFolderError> => {
  const byId = new Map<string, number>()
  for (let i = 0; i < src.size; i++) {
    const item = src.item(i)
    byId.set(item.id, i)
    const base = item.id.split(/[\\/]/).at(-1)!
    if (!byId.has(base)) byId.set(base, i)
  }
  const unknown = ids.filter((id) => !byId.has(id))
  const unlabeled = ids.filter((id) => byId.has(id) && src.item(byId.get(id)!).label === undefined)
  if (ids.length === 0 || unknown.length > 0 || unlabeled.length > 0) {
    const reason = ids.length === 0
      ? "labelIds: the list is empty"
      : unknown.length > 0
      ? `labelIds: ${unknown.length} of ${ids.length} ids are not in ${src.name} (first: ${unknown.slice(0, 3).join(", ")})`
      : `labelIds: ${unlabeled.length} listed images have no label (first: ${unlabeled.slice(0, 3).join(", ")})`
    return Effect.fail(new RunFolderError({ path: run, reason }))
  }
  return Effect.succeed([...new Set(ids.map((id) => byId.get(id)!))].toSorted((a, b) => a - b))
}

/**
 * @category constants
 * @since 0.1.0
 */
export const finetuneDefaults = (): FinetuneConfig => ({
  epochs: 30,
  batchSize: 64,
  seed: 0,
  optimizer: { name: "lars", learningRate: 0.005, scaling: "sqrt", weightDecay: 0, warmupEpochs: 0 },
  ftProjSelector: 0,
  freezeUpTo: -1
})

/**
 * @category models
 * @since 0.1.0
 */
export interface FinetuneResult {
  readonly steps: number
  readonly labeled: number
  readonly trainAccuracy: number
  readonly test: Accuracy | undefined
  readonly checkpoint: string
}

const frozenPrefixes = (freezeUpTo: number): ReadonlyArray<string> => {
  const stem = ["conv1/", "bn1/", "stem"]
  const groups = ["layer1.", "layer2.", "layer3.", "layer4."]
  if (freezeUpTo < 0) return []
  return [...stem, ...groups.slice(0, Math.min(4, freezeUpTo))]
}

/**
 * The classifier `finetune` trains: images `[B, size, size, 3]` → the pre-trained encoder and head
 * (`simclrModel`, nested as `backbone`) → the head layer `ftProjSelector` → a supervised head
 * (`head_supervised`, seeded with `seed`) → logits `[B, classes]`. It shares the encoder's and head's
 * weights (disposing it frees them). `finetune` builds its classifier with it, and `loadFinetuned`
 * rebuilds a finetune output's classifier with it, so that its checkpoint fits.
 *
 * @category constructors
 * @since 0.1.0
 */
export const finetunedModel = (
  pretrained: { readonly encoder: tfl.LayersModel; readonly head: tfl.LayersModel },
  options: { readonly imageSize: number; readonly classes: number; readonly ftProjSelector: number; readonly seed: number }
): tfl.LayersModel => {
  const { imageSize: size, classes, ftProjSelector, seed } = options
  const backbone = simclrModel(pretrained.encoder, pretrained.head, { ftProjSelector, name: "backbone" })
  const classifier = supervisedHead(classes, { inputDim: backbone.outputs[1]!.shape[1] as number, seed })
  const input = tfl.input({ shape: [size, size, 3], name: "finetune_images" })
  const ft = (backbone.apply(input) as Array<tfl.SymbolicTensor>)[1]!
  return tfl.model({ inputs: input, outputs: classifier.apply(ft) as tfl.SymbolicTensor, name: "finetuned" })
}

/** The subset of an indexed source at the given positions. */
const subset = (source: IndexedSource, indices: ReadonlyArray<number>): IndexedSource => ({
  ...source,
  name: `${source.name}, ${indices.length} labeled`,
  size: indices.length,
  item: (i) => source.item(indices[i]!),
  fingerprint: () => `${source.fingerprint()}:${indices.join(",")}`
})

/**
 * Fine-tunes the encoder of the pretrain run in `run` with a supervised head on `source`'s labels,
 * writes `out/config.json`, `out/metrics.jsonl`, a checkpoint of the whole classifier and
 * `out/results.json`, and measures top-1/top-5 on `test` when given. `out` must be new, empty or an
 * earlier finetune output (a pretrain run or a data folder there is a `RunFolderError`, before any work).
 *
 * @category training
 * @since 0.1.0
 */
export const finetune = <E1, E2>(
  run: string,
  source: SourceLike<E1>,
  config: FinetuneConfig,
  options: { readonly out: string; readonly test?: SourceLike<E2> }
): Effect.Effect<FinetuneResult, E1 | E2 | DataStreamError | CheckpointError | RunFolderError> =>
  Effect.scoped(
    Effect.gen(function*() {
      yield* requireRunFolder(options.out, "finetune", "write")
      const src = yield* resolveSource(source)
      if (src._tag !== "IndexedSource" || src.classes === undefined) {
        return yield* new RunFolderError({ path: run, reason: `fine-tuning needs a labeled dataset with random access (a folder of class folders, CSV, IDX, CIFAR, synthetic); ${src.name} is not one` })
      }
      const labels = Int32Array.from({ length: src.size }, (_v, i) => src.item(i).label ?? -1)
      const chosen = config.labelIds !== undefined
        ? yield* idsToIndices(src, config.labelIds, run)
        : config.labelFraction !== undefined
        ? labelSubset(labels, { fraction: config.labelFraction, seed: config.seed })
        : config.labelsPerClass !== undefined
        ? labelSubset(labels, { perClass: config.labelsPerClass, seed: config.seed })
        : labelSubset(labels, { fraction: 1, seed: config.seed })
      const train = subset(src, chosen)
      const classes = src.classes.length

      // Disposing the fine-tuning model frees the encoder and head it shares with the loaded run.
      const loaded = yield* Effect.acquireRelease(loadRun(run), (r) =>
        Effect.sync(() => {
          try {
            r.model.dispose()
          } catch {
            // already disposed with the fine-tuning model
          }
        }))
      const size = loaded.config.imageSize
      const built = yield* Effect.acquireRelease(
        Effect.sync(() => ({ model: finetunedModel(loaded, { imageSize: size, classes, ftProjSelector: config.ftProjSelector, seed: config.seed }) })),
        (b) => Effect.sync(() => b.model.dispose())
      )
      const frozen = frozenPrefixes(config.freezeUpTo)
      const variables: Record<string, tf.Variable> = {}
      for (const w of built.model.trainableWeights) {
        if (frozen.some((p) => w.originalName.startsWith(p))) continue
        variables[w.originalName] = w.read() as tf.Variable
      }
      const optimizer = makeOptimizer(config.optimizer)
      let state = optimizer.init(variables)
      yield* Effect.addFinalizer(() => Effect.sync(() => disposeState(state)))
      const lr = warmupCosine({ ...config.optimizer, batchSize: config.batchSize, examples: train.size, epochs: config.epochs, warmupEpochs: config.optimizer.warmupEpochs ?? 0 })
      const augment = { ...augmentPresets.finetune(size), size: [size, size] as [number, number] }

      yield* Effect.tryPromise({
        try: async () => {
          await mkdir(options.out, { recursive: true })
          await writeFile(join(options.out, "config.json"), JSON.stringify({ run, runStep: loaded.step, labeled: chosen.length, ...config }, null, 2) + "\n")
        },
        catch: (e) => new RunFolderError({ path: options.out, reason: e instanceof Error ? e.message : String(e) })
      })
      let step = 0
      let correct = 0
      let seen = 0
      yield* Stream.runForEach(
        imageBatches(train, { batchSize: Math.min(config.batchSize, train.size), imageSize: size, epochs: config.epochs, seed: config.seed, dropRemainder: true }),
        (batch) =>
          Effect.gen(function*() {
            // One augmented view per image (crop + flip, the official fine-tuning input).
            const { images, labels: batchLabels } = toTensors(batch)
            const view = simclrView(images, augment, batchSeed(batch, config.seed))
            images.dispose()
            const { value, grads, correctCount } = tf.tidy(() => {
              const y = tf.oneHot(batchLabels!, classes)
              let hits: tf.Tensor | undefined
              const result = tf.variableGrads(() => {
                const logits = built.model.apply(view, { training: true }) as tf.Tensor
                // Kept: variableGrads frees the forward pass's tensors when it returns.
                hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), batchLabels!), "int32")))
                return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar
              }, Object.values(variables))
              return { ...result, correctCount: hits! }
            })
            tf.dispose([view, batchLabels!])
            const loss = value.dataSync()[0]!
            correct += correctCount.dataSync()[0]!
            seen += batch.size
            tf.dispose([value, correctCount])
            // Weights off the path to the logits (head layers above ftProjSelector) get no gradient.
            state = applyGradients(variables, grads, optimizer, state, lr(step))
            step++
            yield* Effect.promise(() => appendFile(join(options.out, "metrics.jsonl"), JSON.stringify({ step, epoch: batch.epoch, loss, learningRate: lr(step - 1) }) + "\n"))
          })
      )
      const checkpoint = yield* writeCheckpoint(join(options.out, "checkpoints"), { step, model: built.model, optimizerState: state, state: { step }, config }, 1)
      let test: Accuracy | undefined
      if (options.test !== undefined) {
        const logits = yield* extractFeatures(built.model, options.test, { imageSize: size })
        if (logits.labels === undefined) return yield* new RunFolderError({ path: options.out, reason: "the test data has no labels" })
        const scores = tf.tensor2d(logits.values, [logits.count, classes])
        test = accuracyOf(scores, logits.labels)
        scores.dispose()
      }
      const result: FinetuneResult = { steps: step, labeled: chosen.length, trainAccuracy: seen === 0 ? 0 : correct / seen, test, checkpoint }
      yield* Effect.promise(() => writeFile(join(options.out, "results.json"), JSON.stringify(result, null, 2) + "\n"))
      return result
    })
  )
