/**
 * SimCLR v1 and v2 as objectives of the one training loop (`trainLoop`), built by plain functions from a
 * run's config: the encoder and head, the optimiser and its state, the online linear probe, and for v2
 * a momentum network and a memory queue of its keys (`@simclr/memory-queue`).
 *
 * @since 0.1.0
 */
import { makeTwoViews } from "@simclr/data-stream"
import { resnet } from "@simclr/encoders"
import { projectionHead, simclrModel } from "@simclr/heads"
import { infoNce, ntXent } from "@simclr/losses"
import {
  createMemoryQueue,
  disposeMemoryQueue,
  enqueue,
  type MemoryQueue,
  momentumEncoder,
  momentumSchedule,
  momentumUpdate,
  queueNegatives,
  queueState,
  restoreQueue
} from "@simclr/memory-queue"
import * as tf from "@tensorflow/tfjs-core"
import type * as tfl from "@tensorflow/tfjs-layers"
import { type Checkpoint, CheckpointError, restoreCheckpoint } from "./checkpoint.ts"
import { viewConfigOf } from "./config.ts"
import type { Objective, ObjectiveInfo, ObjectiveStepResult } from "./objective.ts"
import { adam, adamw, disposeState, isNormOrBias, lars, type Optimizer, type OptimizerState, sgd } from "./optimizers.ts"
import type { OptimizerConfig, PretrainConfig, SimclrV2Config } from "./pretrain.ts"
import { simclrStep, type SimclrStepOptions, type SimclrStepResult, trainableWeights } from "./simclrStep.ts"

/**
 * Builds the optimiser a config names.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeOptimizer = (c: OptimizerConfig): Optimizer => {
  switch (c.name) {
    case "lars":
      // The official LARS leaves the online probe (head_supervised) out of weight decay and adaptation.
      return lars({ momentum: c.momentum ?? 0.9, weightDecay: c.weightDecay, excludeFromWeightDecay: (n) => isNormOrBias(n) || n.startsWith("head_supervised/") })
    case "sgd":
      return sgd({ momentum: c.momentum ?? 0.9, weightDecay: c.weightDecay })
    case "adam":
      return adam({ weightDecay: c.weightDecay })
    case "adamw":
      return adamw({ weightDecay: c.weightDecay })
    default:
      throw new RangeError(`optimizer.name: got ${JSON.stringify((c as { name: unknown }).name)}; allowed: "lars", "sgd", "adam", "adamw"`)
  }
}

/**
 * The encoder, the head and their composition, from a config. The caller disposes `model` (which frees
 * the encoder's and head's weights with it).
 *
 * @category constructors
 * @since 0.1.0
 */
export const buildSimclrModel = (config: Pick<PretrainConfig, "encoder" | "head" | "imageSize">): {
  readonly encoder: tfl.LayersModel
  readonly head: tfl.LayersModel
  readonly model: tfl.LayersModel
} => {
  const { encoder, head } = buildEncoderAndHead(config)
  return { encoder, head, model: simclrModel(encoder, head) }
}

/**
 * The encoder and head of a config, not yet composed: for a model that uses them in another way (the
 * fine-tuned classifier), so that disposing that model alone frees them. The caller disposes both, or
 * the model they end up in.
 *
 * @internal
 */
export const buildEncoderAndHead = (config: Pick<PretrainConfig, "encoder" | "head" | "imageSize">): { readonly encoder: tfl.LayersModel; readonly head: tfl.LayersModel } => {
  const encoder = resnet({ ...config.encoder, inputShape: [config.imageSize, config.imageSize, 3] })
  const inputDim = encoder.outputs[0]!.shape[1] as number
  try {
    return { encoder, head: projectionHead({ ...config.head, inputDim }) }
  } catch (error) {
    encoder.dispose()
    throw error
  }
}

const slotNames = (s: OptimizerState) => Object.keys(s.slots).toSorted()

/**
 * What is wrong with a checkpoint's optimiser state for this run's optimiser (whose fresh state is
 * `fresh`): other slots, or a slot without some trainable weight or with one the run does not train.
 * Undefined when it fits.
 *
 * @internal
 */
export const slotsMismatch = (restored: OptimizerState, fresh: OptimizerState): string | undefined => {
  if (slotNames(restored).join() !== slotNames(fresh).join()) {
    return `its optimizer slots are ${JSON.stringify(slotNames(restored))}; this run's optimizer has ${JSON.stringify(slotNames(fresh))}`
  }
  for (const slot of slotNames(fresh)) {
    const [want, got] = [fresh.slots[slot]!, restored.slots[slot]!]
    const missing = Object.keys(want).filter((n) => !Object.hasOwn(got, n))
    const unexpected = Object.keys(got).filter((n) => !Object.hasOwn(want, n))
    if (missing.length + unexpected.length > 0) return `optimizer slot ${slot} does not fit the model: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(unexpected)}`
  }
  return undefined
}

/** The prefix of the momentum network's weights among a checkpoint's objective tensors. */
const MOMENTUM_PREFIX = "momentum/"
/** The prefix of the memory queue's tensors among a checkpoint's objective tensors. */
const QUEUE_PREFIX = "memory_queue"

/** Rows scaled to unit L2 norm (TensorFlow's `l2_normalize`, ε = 1e-12 on the squared norm). */
const l2Normalize = (z: tf.Tensor2D): tf.Tensor2D => tf.mul(z, tf.rsqrt(tf.maximum(tf.sum(tf.square(z), 1, true), 1e-12)))

/** The keys k₁, k₂ of both views: the momentum network's z, L2-normalised, in training mode (its batch norm statistics move). */
const keysOf = (target: tfl.LayersModel, views: readonly [tf.Tensor4D, tf.Tensor4D], chunkSize: number | undefined): tf.Tensor2D =>
  tf.tidy(() => {
    const n = views[0].shape[0]
    const size = chunkSize === undefined ? n : Math.min(chunkSize, n)
    const k1: Array<tf.Tensor2D> = []
    const k2: Array<tf.Tensor2D> = []
    for (let start = 0; start < n; start += size) {
      const rows = Math.min(size, n - start)
      const x = tf.concat([tf.slice(views[0], [start, 0, 0, 0], [rows, -1, -1, -1]), tf.slice(views[1], [start, 0, 0, 0], [rows, -1, -1, -1])], 0)
      const outputs = target.apply(x, { training: true }) as Array<tf.Tensor>
      const k = l2Normalize(outputs[outputs.length - 1] as tf.Tensor2D)
      k1.push(tf.slice(k, [0, 0], [rows, -1]))
      k2.push(tf.slice(k, [rows, 0], [rows, -1]))
    }
    return tf.concat([...k1, ...k2], 0)
  })

/**
 * Options of {@link simclrV2Step}: `simclrStep`'s (its `loss` is set by `positives`), the momentum m of
 * this step's update, and which positives the loss uses.
 *
 * @category models
 * @since 0.1.0
 */
export interface SimclrV2StepOptions extends Omit<SimclrStepOptions, "loss"> {
  /** θ_target ← m·θ_target + (1 − m)·θ_online after the optimiser step (from `momentumSchedule`). */
  readonly momentum: number
  /** `"online"` (default) or `"momentum"`: see `SimclrV2Config.positives`. */
  readonly positives?: "online" | "momentum"
}

/**
 * What {@link simclrV2Step} reports: `simclrStep`'s result, the queue after the step (the one passed in
 * is consumed) and how many of its rows were negatives in this step.
 *
 * @category models
 * @since 0.1.0
 */
export interface SimclrV2StepResult extends SimclrStepResult {
  readonly queue: MemoryQueue
  readonly queueRows: number
}

/**
 * One SimCLR v2 step as a plain function: keys k₁, k₂ of both views from the momentum network `target`
 * (training mode, no gradient), the loss on the online z₁, z₂ with `queue`'s filled rows as negatives
 * (NT-Xent with in-batch and queue negatives, or MoCo's loss for `positives: "momentum"`; MoCo's first
 * step, before any key is queued, is v1's), the optimiser step on `model` (`simclrStep`), then
 * `momentumUpdate(target, model, momentum)`, then k₁ and k₂ enqueued. A non-finite loss throws
 * `NonFiniteLoss` before anything changes (the queue is then not consumed).
 *
 * @category training
 * @since 0.1.0
 */
export const simclrV2Step = (
  model: tfl.LayersModel,
  target: tfl.LayersModel,
  queue: MemoryQueue,
  views: readonly [tf.Tensor4D, tf.Tensor4D],
  state: OptimizerState,
  options: SimclrV2StepOptions
): SimclrV2StepResult => {
  const { momentum, positives = "online", ...stepOptions } = options
  // The keys come from the momentum network as it is before this step's updates.
  const keys = keysOf(target, views, options.chunkSize)
  const negatives = queueNegatives(queue)
  try {
    const n = views[0].shape[0]
    const rows = negatives.shape[0]
    const temperature = options.temperature
    const loss = positives === "online"
      ? (z1: tf.Tensor2D, z2: tf.Tensor2D) => ntXent(z1, z2, { temperature, negatives })
      : rows === 0
      // MoCo's loss has no negatives before the first keys are queued: the first step is v1's.
      ? undefined
      : (z1: tf.Tensor2D, z2: tf.Tensor2D) => {
        const k1 = tf.slice(keys, [0, 0], [n, -1])
        const k2 = tf.slice(keys, [n, 0], [n, -1])
        return tf.mul(tf.add(infoNce(z1, k2, negatives, { temperature }), infoNce(z2, k1, negatives, { temperature })), 0.5) as tf.Scalar
      }
    const result = simclrStep(model, views, state, loss === undefined ? stepOptions : { ...stepOptions, loss })
    momentumUpdate(target, model, momentum)
    return { ...result, queue: enqueue(queue, keys), queueRows: rows }
  } finally {
    tf.dispose([keys, negatives])
  }
}

/** The v2 pieces: the momentum network, its queue and the momentum schedule. */
interface Memory {
  readonly options: SimclrV2Config
  readonly target: tfl.LayersModel
  queue: MemoryQueue
  readonly momentum: (step: number) => number
}

const v1Metrics = (r: SimclrStepResult): Record<string, number> => ({
  contrastiveAccuracy: r.contrastiveAccuracy,
  contrastiveEntropy: r.contrastiveEntropy,
  ...(r.probeAccuracy === undefined ? {} : { probeLoss: r.probeLoss!, probeAccuracy: r.probeAccuracy })
})

/** The momentum network's weights by checkpoint name. */
const momentumTensors = (target: tfl.LayersModel): Record<string, tf.Tensor> => {
  const out: Record<string, tf.Tensor> = {}
  for (const w of target.weights) {
    const name = `${MOMENTUM_PREFIX}${w.originalName}`
    if (out[name] !== undefined) throw new RangeError(`the momentum network has two weights named "${w.originalName}"`)
    out[name] = w.read()
  }
  return out
}

/** Sets the momentum network and the queue from a checkpoint; checks everything before changing anything. */
const restoreMemory = (checkpoint: Checkpoint, memory: Memory): MemoryQueue => {
  const fail = (reason: string): never => {
    throw new CheckpointError({ path: checkpoint.path, reason })
  }
  const saved = checkpoint.objective
  const weights = momentumTensors(memory.target)
  const missing = Object.keys(weights).filter((n) => !saved.has(n))
  if (missing.length > 0) fail(`holds no momentum network (missing ${JSON.stringify(missing.slice(0, 3))}${missing.length > 3 ? ", …" : ""}): it was not written by a SimCLR v2 run`)
  for (const [name, t] of Object.entries(weights)) {
    const s = saved.get(name)!
    if (!tf.util.arraysEqual(s.shape as Array<number>, t.shape) || !(s.values instanceof Float32Array)) {
      fail(`${name} is ${s.values instanceof Float32Array ? "float32" : "int32"} [${s.shape}] in the checkpoint; the momentum network has float32 [${t.shape}]`)
    }
  }
  const queueEntries = [...saved].filter(([n]) => n.startsWith(`${QUEUE_PREFIX}/`))
  const state = tf.tidy(() => Object.fromEntries(queueEntries.map(([n, s]) => [n, tf.tensor(s.values, s.shape as Array<number>, s.values instanceof Int32Array ? "int32" : "float32")])))
  let queue: MemoryQueue
  try {
    queue = restoreQueue(state, { prefix: QUEUE_PREFIX })
  } catch (error) {
    return fail(`its memory queue does not restore: ${error instanceof Error ? error.message : String(error)}`)
  } finally {
    tf.dispose(Object.values(state))
  }
  if (queue.size !== memory.queue.size || queue.dim !== memory.queue.dim) {
    disposeMemoryQueue(queue)
    fail(`its memory queue is [${queue.size}, ${queue.dim}]; this run's is [${memory.queue.size}, ${memory.queue.dim}]`)
  }
  for (const w of memory.target.weights) {
    const s = saved.get(`${MOMENTUM_PREFIX}${w.originalName}`)!
    const value = tf.tensor(s.values, s.shape as Array<number>, "float32")
    w.write(value)
    value.dispose()
  }
  return queue
}

const contrastiveObjective = (config: PretrainConfig, info: ObjectiveInfo, v2: SimclrV2Config | undefined): Objective => {
  const { model } = buildSimclrModel(config)
  const disposers: Array<() => void> = [() => model.dispose()]
  const dispose = () => {
    for (const d of disposers.splice(0).toReversed()) d()
  }
  try {
    // The online probe: zero-initialised linear classifier on h, when there are classes to learn.
    const classes = info.classes?.length ?? 0
    const probeWeights = config.linearProbe !== false && classes >= 2
      ? tf.tidy(() => {
        const dim = model.outputs[0]!.shape[1] as number
        // In a tidy, so the zero tensors the variables start from are freed.
        return { "head_supervised/kernel": tf.variable(tf.zeros([dim, classes])), "head_supervised/bias": tf.variable(tf.zeros([classes])) }
      })
      : undefined
    if (probeWeights !== undefined) disposers.push(() => tf.dispose(Object.values(probeWeights)))
    const optimizer = makeOptimizer(config.optimizer)
    let state: OptimizerState = optimizer.init({ ...trainableWeights(model), ...probeWeights })
    disposers.push(() => disposeState(state))
    const augment = viewConfigOf(config)

    let memory: Memory | undefined
    if (v2 !== undefined) {
      const target = momentumEncoder(model)
      disposers.push(() => target.dispose())
      const dim = model.outputs[model.outputs.length - 1]!.shape[1] as number
      memory = {
        options: v2,
        target,
        queue: createMemoryQueue({ size: v2.queueSize, dim }),
        momentum: momentumSchedule({ momentum: v2.momentum, schedule: v2.momentumSchedule ?? "constant", totalSteps: Math.max(1, info.totalSteps) })
      }
      const m = memory
      disposers.push(() => disposeMemoryQueue(m.queue))
    }

    const step = (batch: Parameters<Objective["step"]>[0], context: Parameters<Objective["step"]>[1]): ObjectiveStepResult => {
      const views = makeTwoViews(batch, augment, config.seed)
      try {
        const pair: [tf.Tensor4D, tf.Tensor4D] = [views.view1, views.view2]
        const options: SimclrStepOptions = {
          temperature: config.temperature,
          optimizer,
          learningRate: context.learningRate,
          ...(config.chunkSize === undefined ? {} : { chunkSize: config.chunkSize }),
          ...(probeWeights === undefined || batch.labels === undefined ? {} : { probe: { weights: probeWeights, labels: batch.labels } })
        }
        if (memory === undefined) {
          const r = simclrStep(model, pair, state, options)
          state = r.state
          return { loss: r.loss, metrics: v1Metrics(r) }
        }
        const m = memory.momentum(context.step)
        const r = simclrV2Step(model, memory.target, memory.queue, pair, state, { ...options, momentum: m, positives: memory.options.positives ?? "online" })
        state = r.state
        memory.queue = r.queue
        return { loss: r.loss, metrics: { ...v1Metrics(r), queueRows: r.queueRows, momentum: m } }
      } finally {
        views.dispose()
      }
    }

    return {
      name: v2 === undefined ? "simclr-v1" : "simclr-v2",
      metricNames: [
        "contrastiveAccuracy",
        "contrastiveEntropy",
        ...(probeWeights === undefined ? [] : ["probeLoss", "probeAccuracy"]),
        ...(v2 === undefined ? [] : ["queueRows", "momentum"])
      ],
      step,
      snapshot: () => ({
        model,
        optimizerState: state,
        extraWeights: probeWeights,
        objectiveTensors: memory === undefined ? undefined : { ...momentumTensors(memory.target), ...queueState(memory.queue, { prefix: QUEUE_PREFIX }) }
      }),
      restore: (checkpoint) => {
        if (memory === undefined && checkpoint.objective.size > 0) {
          throw new CheckpointError({
            path: checkpoint.path,
            reason: `holds ${checkpoint.objective.size} tensors of another objective (${[...checkpoint.objective.keys()].slice(0, 2).join(", ")}, …): it was written by a SimCLR v2 run`
          })
        }
        const queue = memory === undefined ? undefined : restoreMemory(checkpoint, memory)
        let restored: OptimizerState
        try {
          restored = restoreCheckpoint(checkpoint, model, probeWeights)
        } catch (error) {
          if (queue !== undefined) disposeMemoryQueue(queue)
          throw error
        }
        const mismatch = slotsMismatch(restored, state)
        if (mismatch !== undefined) {
          disposeState(restored)
          if (queue !== undefined) disposeMemoryQueue(queue)
          throw new CheckpointError({ path: checkpoint.path, reason: mismatch })
        }
        disposeState(state)
        state = restored
        if (memory !== undefined && queue !== undefined) {
          disposeMemoryQueue(memory.queue)
          memory.queue = queue
        }
      },
      dispose
    }
  } catch (error) {
    dispose()
    throw error
  }
}

/**
 * SimCLR v1 as an objective of `trainLoop`: both views of each batch through the encoder and head,
 * NT-Xent on z, one optimiser step (`simclrStep`), and the online linear probe on h when the source has
 * labels. Its checkpoints hold the model, the probe and the optimiser's state.
 *
 * @category training
 * @since 0.1.0
 */
export const simclrObjective = (config: PretrainConfig, info: ObjectiveInfo): Objective => contrastiveObjective(config, info, undefined)

/**
 * SimCLR v2 as an objective of `trainLoop`: v1's step plus a momentum network (an exponential moving
 * average of the online network) whose keys of both views fill a FIFO memory queue
 * (`@simclr/memory-queue`). Each step: keys k₁, k₂ from the momentum network (no gradient; its batch
 * norm statistics move), the loss on the online z₁, z₂ with the queue's rows as extra negatives
 * (`positives: "online"`: NT-Xent with in-batch and queue negatives) or MoCo's (`"momentum"`: z₁ against
 * k₂ and z₂ against k₁, negatives from the queue; the first step, before any key is queued, is v1's),
 * the optimiser step, `momentumUpdate` with the schedule's m, then k₁ and k₂ enqueued. Its checkpoints
 * also hold the momentum network's weights and the queue (buffer, pointer, rows filled).
 *
 * @category training
 * @since 0.1.0
 */
export const simclrV2Objective = (config: PretrainConfig & { readonly v2: SimclrV2Config }, info: ObjectiveInfo): Objective =>
  contrastiveObjective(config, info, config.v2)
