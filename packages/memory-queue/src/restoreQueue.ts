import * as tf from "@tensorflow/tfjs-core"
import { assertMatrix, describe, InvalidArgumentError, shapeOf } from "@simclr/core"
import { MAX_EXTENT } from "./createMemoryQueue.ts"
import { makeQueue } from "./internal/queue.ts"
import type { MemoryQueue } from "./MemoryQueue.ts"
import { prefixOf, type QueueStateOptions, stateNames } from "./queueState.ts"

/** An int32 scalar entry of the state, read back. */
const intScalar = (name: string, value: tf.Tensor): number => {
  if (value.rank !== 0 || value.dtype !== "int32") {
    throw new InvalidArgumentError(name, `expected an int32 scalar, got ${value.dtype} of shape ${shapeOf(value.shape)}`)
  }
  return value.dataSync()[0]!
}

/**
 * A queue from the named tensors {@link queueState} wrote (with the same `prefix`). Entries without the
 * prefix are ignored, so a whole checkpoint's tensors can be passed; an entry under the prefix that a
 * queue does not have is refused. Everything is checked before anything is allocated: the buffer is
 * float32 `[size, dim]` with size, dim ≥ 1; pointer and filled are int32 scalars with pointer in
 * `[0, size)`, filled in `[0, size]`, and pointer = filled while the queue is not full (keys are
 * written from row 0). The restored queue copies the buffer (the state's tensors stay the caller's, to
 * dispose) and behaves exactly as the saved one under further `enqueue`s.
 *
 * @example
 * ```ts
 * const queue = restoreQueue(state)
 * tf.dispose(Object.values(state))
 * ```
 *
 * @throws {InvalidArgumentError} naming the bad entry (`state["memory_queue/pointer"]`, …) when one is
 *   missing, not a tensor, disposed, of another shape or dtype, or out of range; on a bad `prefix` or an
 *   unknown option.
 * @since 0.1.0
 * @category checkpoints
 */
export const restoreQueue = (state: Readonly<Record<string, tf.Tensor>>, options?: QueueStateOptions): MemoryQueue => {
  const prefix = prefixOf(options)
  if (typeof state !== "object" || state === null || Array.isArray(state) || state instanceof tf.Tensor) {
    throw new InvalidArgumentError("state", `expected an object of named tensors (from queueState), got ${describe(state)}`)
  }
  const names = stateNames(prefix)
  const known: ReadonlyArray<string> = Object.values(names)
  const unknown = Object.keys(state).filter((k) => k.startsWith(`${prefix}/`) && !known.includes(k))
  if (unknown.length > 0) {
    throw new InvalidArgumentError("state", `has entries a queue does not have: ${unknown.map((k) => `"${k}"`).join(", ")}; a queue's state is ${known.map((k) => `"${k}"`).join(", ")}`)
  }
  const entry = (key: string): tf.Tensor => {
    const name = `state["${key}"]`
    const value = (state as Record<string, unknown>)[key]
    if (value === undefined) {
      const prefixes = [...new Set(Object.keys(state).filter((k) => k.endsWith("/buffer")).map((k) => k.slice(0, -"/buffer".length)))]
      throw new InvalidArgumentError(
        name,
        `is missing: a queue's state written by queueState with prefix "${prefix}" has ${known.map((k) => `"${k}"`).join(", ")}` +
          (prefixes.length > 0 ? ` (the state has a buffer under the prefix ${prefixes.map((p) => `"${p}"`).join(", ")}: pass options.prefix)` : "")
      )
    }
    if (!(value instanceof tf.Tensor)) throw new InvalidArgumentError(name, `expected a tf.Tensor, got ${describe(value)}`)
    if (value.isDisposed) throw new InvalidArgumentError(name, "the tensor is disposed")
    return value
  }
  const buffer = entry(names.buffer)
  assertMatrix(`state["${names.buffer}"]`, buffer, "[size, dim]")
  const [size, dim] = buffer.shape
  if (size * dim > MAX_EXTENT) throw new InvalidArgumentError(`state["${names.buffer}"]`, `more than ${MAX_EXTENT} values: shape ${shapeOf(buffer.shape)}`)
  const pointer = intScalar(`state["${names.pointer}"]`, entry(names.pointer))
  const filled = intScalar(`state["${names.filled}"]`, entry(names.filled))
  if (!(filled >= 0 && filled <= size)) {
    throw new InvalidArgumentError(`state["${names.filled}"]`, `must be in [0, ${size}] (the buffer's rows), got ${filled}`)
  }
  if (!(pointer >= 0 && pointer < size)) {
    throw new InvalidArgumentError(`state["${names.pointer}"]`, `must be in [0, ${size - 1}] (a row of the [${size}, ${dim}] buffer), got ${pointer}`)
  }
  if (filled < size && pointer !== filled) {
    throw new InvalidArgumentError(
      `state["${names.pointer}"]`,
      `must equal filled (${filled}) while the queue is not full (keys are written from row 0 on), got ${pointer}`
    )
  }
  // The variable shares the state tensor's data (reference-counted): the caller may dispose the state.
  return makeQueue(tf.variable(buffer, false) as tf.Variable<tf.Rank.R2>, pointer, filled)
}
