import { describe, InvalidArgumentError, knownKeys, numberIn, oneOf } from "@simclr/core"

/**
 * Options of {@link momentumSchedule}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MomentumScheduleOptions {
  /** m₀ in [0, 1]: the momentum at step 0 (MoCo: 0.999; SimCLR v2 on a CPU: 0.99). */
  readonly momentum: number
  /** `"constant"` (default): m₀ at every step. `"cosine"`: BYOL's increase from m₀ to 1 over `totalSteps`. */
  readonly schedule?: "constant" | "cosine"
  /** K, an integer ≥ 1: the step at which the cosine schedule reaches 1. Required for `"cosine"`. */
  readonly totalSteps?: number
}

const KEYS = ["momentum", "schedule", "totalSteps"] as const

const checkStep = (step: unknown): number => {
  if (typeof step !== "number" || !Number.isFinite(step) || step < 0) {
    throw new InvalidArgumentError("step", `must be a finite number ≥ 0, got ${describe(step)}`)
  }
  return step
}

/**
 * The momentum of the momentum network at each step, for {@link momentumUpdate}: `"constant"` gives
 * m₀ at every step; `"cosine"` gives BYOL's m(k) = 1 − (1 − m₀)·(cos(π·k/K) + 1)/2, which rises from
 * m₀ at k = 0 to 1 at k = K and stays 1 after K. Steps are counted from 0 and may be fractional.
 *
 * @example
 * ```ts
 * const m = momentumSchedule({ momentum: 0.99, schedule: "cosine", totalSteps: 10_000 })
 * momentumUpdate(target, online, m(step))
 * ```
 *
 * @throws {InvalidArgumentError} when `momentum` is missing or not a number in [0, 1], `schedule` is
 *   another string, `totalSteps` is not an integer ≥ 1 (or is missing with `"cosine"`), or on an unknown
 *   option; the returned function throws on a step that is not a finite number ≥ 0.
 * @since 0.1.0
 * @category momentum
 */
export const momentumSchedule = (options: MomentumScheduleOptions): ((step: number) => number) => {
  if (options === undefined) throw new InvalidArgumentError("options", "is required: { momentum, schedule?, totalSteps? }")
  const o = knownKeys("options", options, KEYS)
  if (o["momentum"] === undefined) throw new InvalidArgumentError("options.momentum", "is required: a number in [0, 1], got undefined")
  const m0 = numberIn("options.momentum", o["momentum"], Number.NaN, [0, 1])
  const schedule = oneOf("options.schedule", o["schedule"], ["constant", "cosine"], "constant")
  const totalSteps = numberIn("options.totalSteps", o["totalSteps"], Number.NaN, [1, Number.MAX_SAFE_INTEGER], { integer: true })
  if (schedule === "cosine" && Number.isNaN(totalSteps)) {
    throw new InvalidArgumentError("options.totalSteps", `is required by the cosine schedule: an integer ≥ 1, got ${describe(o["totalSteps"])}`)
  }
  if (schedule === "constant") {
    return (step) => {
      checkStep(step)
      return m0
    }
  }
  return (step) => {
    const k = Math.min(checkStep(step), totalSteps)
    return 1 - (1 - m0) * (Math.cos((Math.PI * k) / totalSteps) + 1) / 2
  }
}
