/**
 * Optimisers as pure `{ init, update }` pairs over named weights (optax style): `update` takes the
 * current weights, their gradients, the state and the learning rate, and returns new weights and a new
 * state; it never touches a variable. Exclusions (batch norm, biases) work by weight name. No `effect`
 * here: this is tensor maths.
 *
 * - `lars`: exactly the official SimCLR `LARSOptimizer` (classic momentum with the learning rate inside
 *   the velocity, trust ratio η‖w‖/‖g‖, weight decay added to the gradient; BN and biases excluded from
 *   both weight decay and adaptation).
 * - `sgd`: momentum SGD (heavy ball or Nesterov, as `tf.keras.optimizers.SGD`), with the official
 *   weight decay: `wd·w` added to the gradient of every weight but batch norm's (which is what the
 *   official code's `wd·Σw²/2` loss term does).
 * - `adam` / `adamw`: Adam (Kingma & Ba, bias-corrected) with the same L2 term, or AdamW's decoupled
 *   decay (`w ← w − lr·wd·w`).
 *
 * @since 0.1.0
 */
import * as tf from "@tensorflow/tfjs-core"

/**
 * Weights by name.
 *
 * @category models
 * @since 0.1.0
 */
export type NamedTensors = Readonly<Record<string, tf.Tensor>>

/**
 * An optimiser's state: the update count and its slots (per slot name, one tensor per weight).
 *
 * @category models
 * @since 0.1.0
 */
export interface OptimizerState {
  readonly step: number
  readonly slots: Readonly<Record<string, NamedTensors>>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Optimizer {
  readonly name: string
  /** Zero slots for these weights. */
  readonly init: (weights: NamedTensors) => OptimizerState
  /**
   * One step. Returns new tensors (weights and slots); the inputs are left alone, so the caller assigns
   * the weights and disposes the old state (`disposeState`).
   */
  readonly update: (weights: NamedTensors, grads: NamedTensors, state: OptimizerState, learningRate: number) => {
    readonly weights: NamedTensors
    readonly state: OptimizerState
  }
}

/**
 * Batch-norm parameters (tfjs names end in `/gamma`, `/beta`) and biases (`/bias`): what the official
 * code excludes from weight decay and LARS adaptation (`batch_normalization`, `bias`).
 *
 * @category constants
 * @since 0.1.0
 */
export const isNormOrBias = (name: string): boolean => /\/(gamma|beta|bias)$/.test(name)

/** Batch-norm parameters only: what SGD's and Adam's weight decay skip in the official code. */
export const isNorm = (name: string): boolean => /\/(gamma|beta)$/.test(name)

const checkNumber = (option: string, value: number, ok: boolean, allowed: string): void => {
  if (!(typeof value === "number" && Number.isFinite(value) && ok)) throw new RangeError(`${option}: got ${String(value)}; allowed: ${allowed}`)
}

const checkGrads = (weights: NamedTensors, grads: NamedTensors): void => {
  for (const name of Object.keys(grads)) {
    const w = weights[name]
    if (w === undefined) throw new RangeError(`grads: "${name}" is not a weight`)
    if (!tf.util.arraysEqual(w.shape, grads[name]!.shape)) {
      throw new RangeError(`grads: "${name}" has shape [${grads[name]!.shape}], its weight [${w.shape}]`)
    }
  }
}

/**
 * Applies `fn` to every weight that has a gradient (inside a tidy), giving the new weight and new slots;
 * a weight without a gradient keeps copies of its value and slots.
 */
const perWeight = (
  weights: NamedTensors,
  grads: NamedTensors,
  slots: ReadonlyArray<NamedTensors>,
  fn: (name: string, w: tf.Tensor, g: tf.Tensor, slots: Array<tf.Tensor>) => Array<tf.Tensor>
): { weights: Record<string, tf.Tensor>; slots: Array<Record<string, tf.Tensor>> } => {
  checkGrads(weights, grads)
  const out: Record<string, tf.Tensor> = {}
  const next = slots.map((): Record<string, tf.Tensor> => ({}))
  for (const [name, w] of Object.entries(weights)) {
    const g = grads[name]
    const old = slots.map((slot) => slot[name]!)
    const [w1, ...s1] = g === undefined ? [tf.clone(w), ...old.map((t) => tf.clone(t))] : tf.tidy(() => fn(name, w, g, old))
    out[name] = w1!
    s1.forEach((t, k) => {
      next[k]![name] = t
    })
  }
  return { weights: out, slots: next }
}

const zerosLike = (weights: NamedTensors): NamedTensors => Object.fromEntries(Object.entries(weights).map(([k, w]) => [k, tf.zerosLike(w)]))

/**
 * Frees every tensor of a state.
 *
 * @category utilities
 * @since 0.1.0
 */
export const disposeState = (state: OptimizerState): void => {
  for (const slot of Object.values(state.slots)) tf.dispose(Object.values(slot))
}

/**
 * @category models
 * @since 0.1.0
 */
export interface LarsOptions {
  /** Default 0.9. */
  readonly momentum?: number
  /** Trust coefficient η; default 0.001 (official `EETA_DEFAULT`). */
  readonly eta?: number
  /** Default 0. */
  readonly weightDecay?: number
  /** Default false, as official. */
  readonly nesterov?: boolean
  /** Names excluded from weight decay; default `isNormOrBias`. */
  readonly excludeFromWeightDecay?: (name: string) => boolean
  /** Names excluded from the trust ratio; default the same as `excludeFromWeightDecay`. */
  readonly excludeFromAdaptation?: (name: string) => boolean
}

/**
 * LARS as the official SimCLR code runs it (`classic_momentum=True`). Per weight w with gradient g and
 * velocity v: g ← g + wd·w (unless excluded); trust = η‖w‖/‖g‖ when ‖w‖ > 0 and ‖g‖ > 0 (and not
 * excluded), else 1; v ← m·v + lr·trust·g; w ← w − v (Nesterov: w ← w − (m·v + lr·trust·g)).
 *
 * @category optimizers
 * @since 0.1.0
 */
export const lars = (options: LarsOptions = {}): Optimizer => {
  const momentum = options.momentum ?? 0.9
  const eta = options.eta ?? 0.001
  const weightDecay = options.weightDecay ?? 0
  const nesterov = options.nesterov ?? false
  const excludeDecay = options.excludeFromWeightDecay ?? isNormOrBias
  const excludeAdapt = options.excludeFromAdaptation ?? excludeDecay
  checkNumber("momentum", momentum, momentum >= 0 && momentum < 1, "a number in [0, 1)")
  checkNumber("eta", eta, eta > 0, "a number > 0")
  checkNumber("weightDecay", weightDecay, weightDecay >= 0, "a number ≥ 0")
  return {
    name: "lars",
    init: (weights) => ({ step: 0, slots: { momentum: zerosLike(weights) } }),
    update: (weights, grads, state, lr) => {
      const next = perWeight(weights, grads, [state.slots["momentum"]!], (name, w, g0, [v0]) => {
        const g = weightDecay !== 0 && !excludeDecay(name) ? tf.add(g0, tf.mul(w, weightDecay)) : g0
        let trust: tf.Tensor = tf.scalar(1)
        if (!excludeAdapt(name)) {
          const wNorm = tf.norm(w)
          const gNorm = tf.norm(g)
          const positive = tf.logicalAnd(tf.greater(wNorm, 0), tf.greater(gNorm, 0))
          trust = tf.where(positive, tf.div(tf.mul(wNorm, eta), tf.maximum(gNorm, 1e-30)), tf.scalar(1))
        }
        const scaled = tf.mul(g, tf.mul(trust, lr))
        const v = tf.add(tf.mul(v0!, momentum), scaled)
        const step = nesterov ? tf.add(tf.mul(v, momentum), scaled) : v
        return [tf.sub(w, step), v]
      })
      return { weights: next.weights, state: { step: state.step + 1, slots: { momentum: next.slots[0]! } } }
    }
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface SgdOptions {
  /** Default 0.9. 0 gives plain SGD. */
  readonly momentum?: number
  /** Default false. */
  readonly nesterov?: boolean
  /** L2 weight decay added to the gradient (= wd·Σw²/2 in the loss); default 0. */
  readonly weightDecay?: number
  /** Names the weight decay skips; default batch-norm parameters (`isNorm`), as official. */
  readonly excludeFromWeightDecay?: (name: string) => boolean
}

/**
 * Momentum SGD as `tf.keras.optimizers.SGD` (the official code's `momentum` optimiser): v ← m·v − lr·g;
 * w ← w + v (Nesterov: w ← w + m·v − lr·g), with g including the weight decay term.
 *
 * @category optimizers
 * @since 0.1.0
 */
export const sgd = (options: SgdOptions = {}): Optimizer => {
  const momentum = options.momentum ?? 0.9
  const nesterov = options.nesterov ?? false
  const weightDecay = options.weightDecay ?? 0
  const exclude = options.excludeFromWeightDecay ?? isNorm
  checkNumber("momentum", momentum, momentum >= 0 && momentum < 1, "a number in [0, 1)")
  checkNumber("weightDecay", weightDecay, weightDecay >= 0, "a number ≥ 0")
  return {
    name: "sgd",
    init: (weights) => ({ step: 0, slots: { momentum: zerosLike(weights) } }),
    update: (weights, grads, state, lr) => {
      const next = perWeight(weights, grads, [state.slots["momentum"]!], (name, w, g0, [v0]) => {
        const g = weightDecay !== 0 && !exclude(name) ? tf.add(g0, tf.mul(w, weightDecay)) : g0
        const v = tf.sub(tf.mul(v0!, momentum), tf.mul(g, lr))
        const step = nesterov ? tf.sub(tf.mul(v, momentum), tf.mul(g, lr)) : v
        return [tf.add(w, step), v]
      })
      return { weights: next.weights, state: { step: state.step + 1, slots: { momentum: next.slots[0]! } } }
    }
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface AdamOptions {
  /** Default 0.9. */
  readonly beta1?: number
  /** Default 0.999. */
  readonly beta2?: number
  /** Default 1e-7 (Keras). */
  readonly epsilon?: number
  /** Default 0. */
  readonly weightDecay?: number
  /** `"l2"` (default for `adam`): wd·w added to the gradient; `"decoupled"` (AdamW): w ← w − lr·wd·w. */
  readonly decay?: "l2" | "decoupled"
  /** Names the weight decay skips; default batch-norm parameters (`isNorm`) for L2, norms and biases for AdamW. */
  readonly excludeFromWeightDecay?: (name: string) => boolean
}

/**
 * Adam with bias correction: m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; w ← w − lr·m̂/(√v̂ + ε), with
 * m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ). Weight decay as `decay` says.
 *
 * @category optimizers
 * @since 0.1.0
 */
export const adam = (options: AdamOptions = {}): Optimizer => {
  const beta1 = options.beta1 ?? 0.9
  const beta2 = options.beta2 ?? 0.999
  const epsilon = options.epsilon ?? 1e-7
  const weightDecay = options.weightDecay ?? 0
  const decay = options.decay ?? "l2"
  const exclude = options.excludeFromWeightDecay ?? (decay === "l2" ? isNorm : isNormOrBias)
  checkNumber("beta1", beta1, beta1 >= 0 && beta1 < 1, "a number in [0, 1)")
  checkNumber("beta2", beta2, beta2 >= 0 && beta2 < 1, "a number in [0, 1)")
  checkNumber("epsilon", epsilon, epsilon > 0, "a number > 0")
  checkNumber("weightDecay", weightDecay, weightDecay >= 0, "a number ≥ 0")
  if (decay !== "l2" && decay !== "decoupled") throw new RangeError(`decay: got ${String(decay)}; allowed: "l2", "decoupled"`)
  return {
    name: decay === "l2" ? "adam" : "adamw",
    init: (weights) => ({ step: 0, slots: { m: zerosLike(weights), v: zerosLike(weights) } }),
    update: (weights, grads, state, lr) => {
      const t = state.step + 1
      const c1 = 1 - beta1 ** t
      const c2 = 1 - beta2 ** t
      const next = perWeight(weights, grads, [state.slots["m"]!, state.slots["v"]!], (name, w, g0, [m0, v0]) => {
        const decays = weightDecay !== 0 && !exclude(name)
        const g = decays && decay === "l2" ? tf.add(g0, tf.mul(w, weightDecay)) : g0
        const m = tf.add(tf.mul(m0!, beta1), tf.mul(g, 1 - beta1))
        const v = tf.add(tf.mul(v0!, beta2), tf.mul(tf.square(g), 1 - beta2))
        const step = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), epsilon))
        let w1 = tf.sub(w, tf.mul(step, lr))
        if (decays && decay === "decoupled") w1 = tf.sub(w1, tf.mul(w, lr * weightDecay))
        return [w1, m, v]
      })
      return { weights: next.weights, state: { step: t, slots: { m: next.slots[0]!, v: next.slots[1]! } } }
    }
  }
}

/**
 * AdamW: Adam with decoupled weight decay (default 0.01), biases and norms excluded.
 *
 * @category optimizers
 * @since 0.1.0
 */
export const adamw = (options: Omit<AdamOptions, "decay"> = {}): Optimizer => adam({ weightDecay: 0.01, ...options, decay: "decoupled" })
