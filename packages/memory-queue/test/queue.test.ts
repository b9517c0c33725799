import * as tf from "@tensorflow/tfjs-core"
import { asVariable, seededRandom, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { createMemoryQueue, disposeMemoryQueue, enqueue, type MemoryQueue, queueNegatives } from "../src/index.ts"
import { FifoModel, randomRows, rowSet, rowsOf } from "./reference.ts"

/** Compares the queue with the one-row-at-a-time FIFO: buffer, pointer, filled, negatives. Pure copies: exact. */
const expectSame = (queue: MemoryQueue, model: FifoModel): void => {
  expect({ pointer: queue.pointer, filled: queue.filled, size: queue.size, dim: queue.dim }).toEqual({
    pointer: model.pointer,
    filled: model.filled,
    size: model.size,
    dim: model.dim
  })
  expect(Array.from(queue.buffer.dataSync())).toEqual(model.buffer())
  const negatives = queueNegatives(queue)
  expect(negatives.shape).toEqual([model.filled, model.dim])
  expect(Array.from(negatives.dataSync())).toEqual(model.negatives())
  // Independently of positions: the negatives are the newest `filled` keys ever enqueued.
  expect(rowSet(rowsOf(negatives))).toEqual(rowSet(model.newest()))
  negatives.dispose()
}

describe("createMemoryQueue", () => {
  useLeakCheck()

  it("starts empty: a zero [size, dim] float32 buffer, pointer 0, filled 0, one tensor", () => {
    const before = tf.memory().numTensors
    const queue = createMemoryQueue({ size: 6, dim: 3 })
    expect(tf.memory().numTensors).toBe(before + 1)
    expect(queue.buffer.shape).toEqual([6, 3])
    expect(queue.buffer.dtype).toBe("float32")
    expect(Array.from(queue.buffer.dataSync())).toEqual(Array.from({ length: 18 }, () => 0))
    expect({ pointer: queue.pointer, filled: queue.filled, size: queue.size, dim: queue.dim }).toEqual({ pointer: 0, filled: 0, size: 6, dim: 3 })
    expect(Object.isFrozen(queue)).toBe(true)
    // The buffer is a non-trainable variable: no optimiser or gradient collects it.
    expect(queue.buffer).toBeInstanceOf(tf.Variable)
    expect((queue.buffer as tf.Variable).trainable).toBe(false)
    const empty = queueNegatives(queue)
    expect(empty.shape).toEqual([0, 3])
    empty.dispose()
    disposeMemoryQueue(queue)
  })

  it("survives an enclosing tf.tidy (it is freed only by disposeMemoryQueue)", () => {
    const held: { queue?: MemoryQueue } = {}
    tf.tidy(() => {
      held.queue = createMemoryQueue({ size: 2, dim: 2 })
    })
    tf.tidy(() => {
      const keys = tf.ones([1, 2])
      held.queue = enqueue(held.queue!, keys)
    })
    expect(held.queue!.buffer.isDisposed).toBe(false)
    expect(rowsOf(held.queue!.buffer)).toEqual([[1, 1], [0, 0]])
    disposeMemoryQueue(held.queue!)
  })
})

describe("enqueue and queueNegatives against a one-row-at-a-time FIFO", () => {
  useLeakCheck()

  it("hand-made cases: partial fill, exact fill, wrap-around, B = size, B > size", () => {
    const size = 5
    const dim = 2
    const model = new FifoModel(size, dim)
    let queue = createMemoryQueue({ size, dim })
    expectSame(queue, model)
    let seed = 1
    // filled 2; filled 4; wraps (4 → 1, full); B = size at pointer 1; B = 2·size + 3 at pointer 1; 1 row.
    for (const b of [2, 2, 2, 5, 13, 1, 5, 7]) {
      const { rows, tensor } = randomRows(b, dim, seed++)
      queue = enqueue(queue, tensor)
      model.push(rows)
      // The keys stay the caller's.
      expect(tensor.isDisposed).toBe(false)
      tensor.dispose()
      expectSame(queue, model)
    }
    disposeMemoryQueue(queue)
  })

  it("random sequences of batch sizes from 1 to 2·size + 1, for several sizes (size 1 included)", () => {
    const rng = seededRandom(7)
    let seed = 100
    for (const [size, dim] of [[1, 3], [2, 1], [7, 4], [16, 5], [33, 2]] as const) {
      const model = new FifoModel(size, dim)
      let queue = createMemoryQueue({ size, dim })
      for (let step = 0; step < 40; step++) {
        const b = 1 + Math.floor(rng.uniform() * (2 * size + 1))
        const { rows, tensor } = randomRows(b, dim, seed++)
        queue = enqueue(queue, tensor)
        model.push(rows)
        tensor.dispose()
        expectSame(queue, model)
      }
      expect(queue.filled).toBe(Math.min(size, model.history.length))
      disposeMemoryQueue(queue)
    }
  })

  it("a partly filled queue never hands out its zero rows", () => {
    let queue = createMemoryQueue({ size: 8, dim: 2 })
    const keys = tf.fill([3, 2], 0.5)
    queue = enqueue(queue, keys)
    const negatives = queueNegatives(queue)
    expect(rowsOf(negatives)).toEqual([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    tf.dispose([keys, negatives])
    disposeMemoryQueue(queue)
  })

  it("the negatives are a snapshot: a later enqueue does not change them, disposing them leaves the queue intact", () => {
    let queue = createMemoryQueue({ size: 2, dim: 1 })
    const a = tf.tensor2d([[1], [2]])
    queue = enqueue(queue, a)
    const negatives = queueNegatives(queue)
    const b = tf.tensor2d([[3]])
    queue = enqueue(queue, b)
    expect(rowsOf(negatives)).toEqual([[1], [2]])
    negatives.dispose()
    expect(rowsOf(queue.buffer)).toEqual([[3], [2]])
    tf.dispose([a, b])
    disposeMemoryQueue(queue)
  })
})

describe("ownership", () => {
  useLeakCheck()

  it("queue = enqueue(queue, keys) keeps the tensor count flat over 100 enqueues", () => {
    let queue = createMemoryQueue({ size: 64, dim: 8 })
    const before = tf.memory().numTensors
    const bytes = tf.memory().numBytes
    for (let i = 0; i < 100; i++) {
      const keys = tf.randomNormal([1 + (i % 20), 8])
      queue = enqueue(queue, keys)
      keys.dispose()
      expect(tf.memory().numTensors).toBe(before)
    }
    expect(tf.memory().numBytes).toBe(bytes)
    disposeMemoryQueue(queue)
  })

  it("enqueue consumes the queue it is given; disposing is idempotent and ignores consumed queues", () => {
    const first = createMemoryQueue({ size: 3, dim: 2 })
    const keys = tf.ones([2, 2])
    const second = enqueue(first, keys)
    expect(() => enqueue(first, keys)).toThrow(/^queue: was consumed by enqueue, which overwrites the buffer in place: use the queue enqueue returned/)
    expect(() => queueNegatives(first)).toThrow(/^queue: was consumed by enqueue/)
    // Disposing a consumed queue does nothing: its buffer is the live queue's.
    disposeMemoryQueue(first)
    expect(second.buffer.isDisposed).toBe(false)
    const negatives = queueNegatives(second)
    expect(negatives.shape).toEqual([2, 2])
    negatives.dispose()
    disposeMemoryQueue(second)
    disposeMemoryQueue(second)
    expect(second.buffer.isDisposed).toBe(true)
    expect(() => queueNegatives(second)).toThrow(/^queue: is disposed \(disposeMemoryQueue freed its buffer\)/)
    expect(() => enqueue(second, keys)).toThrow(/^queue: is disposed/)
    keys.dispose()
  })
})

describe("no gradient reaches the buffer", () => {
  useLeakCheck()

  it("a loss on the queue's negatives differentiates with respect to the online z only", () => {
    let queue = createMemoryQueue({ size: 4, dim: 3 })
    const keys = tf.tensor2d([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    queue = enqueue(queue, keys)
    const z = asVariable(tf.tensor2d([[0.5, -1, 2], [1, 1, 1]]))
    const negatives = queueNegatives(queue)
    // L = Σ z·negativesᵀ, so dL/dz = (Σ rows of negatives) in every row = [1, 1, 1].
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.matMul(z, negatives, false, true)))
    expect(Object.keys(grads)).toEqual([z.name])
    expect(grads[(queue.buffer as tf.Variable).name]).toBeUndefined()
    expect(rowsOf(grads[z.name]!)).toEqual([[1, 1, 1], [1, 1, 1]])
    tf.dispose([keys, z, negatives, value, ...Object.values(grads)])
    disposeMemoryQueue(queue)
  })

  it("keys made from a trainable variable carry no gradient into the buffer, even when enqueued under the tape", () => {
    let queue = createMemoryQueue({ size: 4, dim: 2 })
    const w = asVariable(tf.tensor2d([[1, 2], [3, 4]]))
    const z = asVariable(tf.tensor2d([[1, -1]]))
    const x = tf.tensor2d([[0.5, 0.25], [1, -1]])
    const { value, grads } = tf.variableGrads(() => {
      const keys = tf.tanh(tf.matMul(x, w))
      queue = enqueue(queue, keys)
      return tf.sum(tf.matMul(z, queueNegatives(queue), false, true))
    }, [w, z])
    // w made the keys, but no gradient flows from the buffer back to it.
    expect(Object.keys(grads)).toEqual([z.name])
    tf.dispose([w, z, x, value, ...Object.values(grads)])
    disposeMemoryQueue(queue)
  })

  it("the gradient of the negatives with respect to the enqueued keys does not exist", () => {
    const keys = tf.tensor2d([[1, 2]])
    let queue = createMemoryQueue({ size: 4, dim: 2 })
    // tf.grads would throw "Cannot compute gradient of y=f(x) with respect to x" (and, on that error
    // path, leave the forward pass's tensors alive, a tfjs leak); the engine call behind it, with
    // allowNoGradients, returns the missing gradient instead.
    const { value, grads } = tf.engine().gradients(() => {
      queue = enqueue(queue, keys)
      return tf.sum(queueNegatives(queue))
    }, [keys], undefined, true)
    expect(grads).toHaveLength(1)
    expect(grads[0]).toBeUndefined()
    expect(value.dataSync()[0]).toBe(3)
    expect(rowsOf(queue.buffer)[0]).toEqual([1, 2])
    tf.dispose([keys, value])
    disposeMemoryQueue(queue)
  })
})
