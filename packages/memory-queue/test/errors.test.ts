import * as tf from "@tensorflow/tfjs-core"
import { useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { createMemoryQueue, disposeMemoryQueue, enqueue, InvalidArgumentError, type MemoryQueue, queueNegatives, queueState, SimclrError } from "../src/index.ts"

/** The error `f` throws. */
const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  return undefined
}

/** `f` throws an InvalidArgumentError for `argument` whose message starts with it and matches `message`. */
const expectInvalid = (f: () => unknown, argument: string, message: RegExp): void => {
  const error = thrown(f)
  expect(error).toBeInstanceOf(InvalidArgumentError)
  expect(SimclrError.isInstance(error)).toBe(true)
  const e = error as InvalidArgumentError
  expect({ argument: e.argument, prefix: e.message.startsWith(`${argument}: `) }).toEqual({ argument, prefix: true })
  expect(e.message.slice(argument.length + 2)).toMatch(message)
}

describe("bad input names the argument and what it allows", () => {
  useLeakCheck()

  it("createMemoryQueue", () => {
    const before = tf.memory().numTensors
    expectInvalid(() => createMemoryQueue({ size: 0, dim: 4 }), "options.size", /^must be an integer in \[1, 2147483647\], got 0$/)
    expectInvalid(() => createMemoryQueue({ size: -3, dim: 4 }), "options.size", /^must be an integer in \[1, 2147483647\], got -3$/)
    expectInvalid(() => createMemoryQueue({ size: 2.5, dim: 4 }), "options.size", /^must be an integer in \[1, 2147483647\], got 2\.5$/)
    expectInvalid(() => createMemoryQueue({ size: Number.NaN, dim: 4 }), "options.size", /^must be an integer in \[1, 2147483647\], got NaN$/)
    expectInvalid(() => createMemoryQueue({ size: "8" as never, dim: 4 }), "options.size", /^must be an integer in \[1, 2147483647\], got "8"$/)
    expectInvalid(() => createMemoryQueue({ size: 8, dim: 1.5 }), "options.dim", /^must be an integer in \[1, 2147483647\], got 1\.5$/)
    expectInvalid(() => createMemoryQueue({ size: 8 } as never), "options.dim", /^is required \(the width of a key\): an integer ≥ 1, got undefined$/)
    expectInvalid(() => createMemoryQueue({ dim: 8 } as never), "options.size", /^is required \(the number of keys the queue holds\): an integer ≥ 1, got undefined$/)
    expectInvalid(() => createMemoryQueue({ size: 8, dim: 4, momentum: 0.9 } as never), "options.momentum", /^unknown option; known options are "size", "dim"$/)
    expectInvalid(() => createMemoryQueue(undefined as never), "options", /^is required: \{ size, dim \}$/)
    expectInvalid(() => createMemoryQueue(65536 as never), "options", /^must be an object, got 65536$/)
    expectInvalid(() => createMemoryQueue({ size: 65536 * 64, dim: 1024 }), "options.size", /^size × dim must be at most 2147483647 values \(tfjs's tensor limit\), got 4194304 × 1024$/)
    // Refused before anything is allocated.
    expect(tf.memory().numTensors).toBe(before)
  })

  it("enqueue, queueNegatives, queueState, disposeMemoryQueue", () => {
    let queue: MemoryQueue = createMemoryQueue({ size: 4, dim: 3 })
    const bad: Array<[string, tf.Tensor | unknown, RegExp]> = [
      ["wrong width", tf.zeros([2, 4]), /^rows must have the queue's width 3: got shape \[2, 4\] for a \[4, 3\] queue$/],
      ["rank 1", tf.zeros([3]), /^expected rank 2 \[B, dim\], got rank 1 with shape \[3\]$/],
      ["rank 3", tf.zeros([1, 2, 3]), /^expected rank 2 \[B, dim\], got rank 3 with shape \[1, 2, 3\]$/],
      ["int32", tf.zeros([2, 3], "int32"), /^expected dtype float32, got int32 \(shape \[2, 3\]\)$/],
      ["empty", tf.zeros([0, 3]), /^empty batch: shape \[0, 3\]$/],
      ["an array", [[1, 2, 3]], /^expected a tf\.Tensor of shape \[B, dim\], got \[\[1,2,3\]\]$/]
    ]
    for (const [, keys, message] of bad) {
      expectInvalid(() => enqueue(queue, keys as tf.Tensor), "keys", message)
      if (keys instanceof tf.Tensor) keys.dispose()
    }
    // Nothing was consumed by the refused calls.
    const ok = tf.ones([1, 3])
    queue = enqueue(queue, ok)
    expect(queue.filled).toBe(1)
    for (const f of [(q: never) => enqueue(q, ok), queueNegatives, queueState, disposeMemoryQueue]) {
      expectInvalid(() => f({ buffer: [1], pointer: 0 } as never), "queue", /^expected a MemoryQueue \(from createMemoryQueue, enqueue or restoreQueue\), got \["buffer","pointer"\]$/)
      expectInvalid(() => f(null as never), "queue", /^expected a MemoryQueue .*got null$/)
    }
    expectInvalid(() => queueState(queue, { prefix: "q/" }), "options.prefix", /^must be a non-empty string not ending in "\/", got "q\/"$/)
    expectInvalid(() => queueState(queue, { prefix: 3 } as never), "options.prefix", /^must be a non-empty string not ending in "\/", got 3$/)
    expectInvalid(() => queueState(queue, { name: "q" } as never), "options.name", /^unknown option; known options are "prefix"$/)
    ok.dispose()
    disposeMemoryQueue(queue)
    expectInvalid(() => queueState(queue), "queue", /^is disposed \(disposeMemoryQueue freed its buffer\)$/)
  })
})
