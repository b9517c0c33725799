/**
 * Tensor-leak checks: the number of live tensors (`tf.memory().numTensors`) must be the same before and
 * after the code under test.
 */
import * as tf from "@tensorflow/tfjs-core"
import { afterEach, beforeEach } from "vitest"

const leakMessage = (before: number, after: number): string =>
  `tensor leak: ${after - before} tensor(s) still alive (${before} before, ${after} after)`

/**
 * Runs `fn` (sync or async) and fails if it leaves tensors alive. Returns what `fn` returned, which
 * therefore must not be a tensor.
 */
export function expectNoLeaks<A>(fn: () => Promise<A>): Promise<A>
export function expectNoLeaks<A>(fn: () => A): A
export function expectNoLeaks<A>(fn: () => A | Promise<A>): A | Promise<A> {
  const before = tf.memory().numTensors
  const check = (value: A): A => {
    const after = tf.memory().numTensors
    if (after !== before) throw new Error(leakMessage(before, after))
    return value
  }
  const result = fn()
  return result instanceof Promise ? result.then(check) : check(result)
}

/**
 * Registers a leak check around every test of the enclosing `describe` (or file): each test must end
 * with as many live tensors as it started with.
 */
export const useLeakCheck = (): void => {
  let before = 0
  beforeEach(() => {
    before = tf.memory().numTensors
  })
  afterEach(() => {
    const after = tf.memory().numTensors
    if (after !== before) throw new Error(leakMessage(before, after))
  })
}
