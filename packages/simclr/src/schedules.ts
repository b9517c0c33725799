/**
 * The official learning-rate schedule (`tf2/model.py WarmUpAndCosineDecay`): the base rate scaled by the
 * batch size, a linear warm-up, then cosine decay to 0. Plain functions of the step.
 *
 * @since 0.1.0
 */

/**
 * @category models
 * @since 0.1.0
 */
export type LearningRateScaling = "linear" | "sqrt"

/**
 * base × B/256 (`"linear"`, the official default) or base × √B (`"sqrt"`, recommended for small batches).
 *
 * @category schedules
 * @since 0.1.0
 */
export const scaledLearningRate = (base: number, batchSize: number, scaling: LearningRateScaling): number => {
  if (!(Number.isFinite(base) && base >= 0)) throw new RangeError(`learningRate: got ${base}; allowed: a number ≥ 0`)
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batchSize: got ${batchSize}; allowed: an integer ≥ 1`)
  if (scaling === "linear") return (base * batchSize) / 256
  if (scaling === "sqrt") return base * Math.sqrt(batchSize)
  throw new RangeError(`learningRateScaling: got ${JSON.stringify(scaling)}; allowed: "linear", "sqrt"`)
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ScheduleOptions {
  readonly learningRate: number
  readonly scaling: LearningRateScaling
  readonly batchSize: number
  /** Images per epoch (N). */
  readonly examples: number
  readonly epochs: number
  /** Default 10, as official. */
  readonly warmupEpochs?: number
  /** Overrides epochs: total optimisation steps. */
  readonly totalSteps?: number
}

/**
 * Steps of an official schedule: warm-up = round(warmupEpochs·N // B) and total = N·epochs // B + 1
 * (or `totalSteps`).
 *
 * @category schedules
 * @since 0.1.0
 */
export const scheduleSteps = (o: ScheduleOptions): { readonly warmupSteps: number; readonly totalSteps: number } => {
  const warmupEpochs = o.warmupEpochs ?? 10
  if (!(warmupEpochs >= 0)) throw new RangeError(`warmupEpochs: got ${warmupEpochs}; allowed: a number ≥ 0`)
  const warmupSteps = Math.round(Math.floor((warmupEpochs * o.examples) / o.batchSize))
  const totalSteps = o.totalSteps ?? Math.floor((o.examples * o.epochs) / o.batchSize) + 1
  return { warmupSteps, totalSteps }
}

/**
 * The learning rate at optimisation step `step` (0 for the first update): step/warmup × scaled during
 * warm-up, then scaled × ½(1 + cos(π·min(t, T)/T)) with t = step − warmup and T = total − warmup.
 *
 * @category schedules
 * @since 0.1.0
 */
export const warmupCosine = (o: ScheduleOptions): ((step: number) => number) => {
  const scaled = scaledLearningRate(o.learningRate, o.batchSize, o.scaling)
  const { warmupSteps, totalSteps } = scheduleSteps(o)
  return (step) => {
    if (step < warmupSteps) return (step / warmupSteps) * scaled
    const span = totalSteps - warmupSteps
    if (span <= 0) return scaled
    return scaled * 0.5 * (1 + Math.cos((Math.PI * Math.min(step - warmupSteps, span)) / span))
  }
}
