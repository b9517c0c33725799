import * as tf from "@tensorflow/tfjs-core"
import { useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { createMemoryQueue, DEFAULT_QUEUE_PREFIX, disposeMemoryQueue, enqueue, InvalidArgumentError, type MemoryQueue, queueNegatives, queueState, restoreQueue } from "../src/index.ts"
import { FifoModel, randomRows, rowsOf } from "./reference.ts"

const filledQueue = (size: number, dim: number, batches: ReadonlyArray<number>, seed: number): { queue: MemoryQueue; model: FifoModel } => {
  let queue = createMemoryQueue({ size, dim })
  const model = new FifoModel(size, dim)
  batches.forEach((b, i) => {
    const { rows, tensor } = randomRows(b, dim, seed + i)
    queue = enqueue(queue, tensor)
    model.push(rows)
    tensor.dispose()
  })
  return { queue, model }
}

const snapshot = (q: MemoryQueue) => {
  const negatives = queueNegatives(q)
  const out = { pointer: q.pointer, filled: q.filled, size: q.size, dim: q.dim, buffer: Array.from(q.buffer.dataSync()), negatives: Array.from(negatives.dataSync()) }
  negatives.dispose()
  return out
}

/** A valid state: a [4, 2] buffer, 2 rows filled. */
const good = (): Record<string, tf.Tensor> => ({
  "memory_queue/buffer": tf.zeros([4, 2]),
  "memory_queue/pointer": tf.scalar(2, "int32"),
  "memory_queue/filled": tf.scalar(2, "int32")
})

describe("queueState and restoreQueue", () => {
  useLeakCheck()

  it("names the tensors: buffer float32 [size, dim], pointer and filled int32 scalars", () => {
    const { queue } = filledQueue(5, 3, [2, 4], 1)
    const state = queueState(queue)
    expect(DEFAULT_QUEUE_PREFIX).toBe("memory_queue")
    expect(Object.keys(state).toSorted()).toEqual(["memory_queue/buffer", "memory_queue/filled", "memory_queue/pointer"])
    expect([state["memory_queue/buffer"]!.shape, state["memory_queue/buffer"]!.dtype]).toEqual([[5, 3], "float32"])
    expect([state["memory_queue/pointer"]!.shape, state["memory_queue/pointer"]!.dtype, state["memory_queue/pointer"]!.dataSync()[0]]).toEqual([[], "int32", 1])
    expect([state["memory_queue/filled"]!.shape, state["memory_queue/filled"]!.dtype, state["memory_queue/filled"]!.dataSync()[0]]).toEqual([[], "int32", 5])
    expect(Array.from(state["memory_queue/buffer"]!.dataSync())).toEqual(Array.from(queue.buffer.dataSync()))
    disposeMemoryQueue(queue)
  })

  it("the tensors belong to the queue: the same ones on every call, alive until the next enqueue or dispose, which frees them", () => {
    const { queue } = filledQueue(4, 2, [3], 2)
    const start = tf.memory().numTensors
    const state = queueState(queue)
    expect(tf.memory().numTensors).toBe(start + 3)
    // Snapshots of one queue value allocate nothing more, whatever the prefix.
    for (let i = 0; i < 10; i++) expect(Object.values(queueState(queue))).toEqual(Object.values(state))
    expect(Object.values(queueState(queue, { prefix: "q" }))).toEqual(Object.values(state))
    expect(tf.memory().numTensors).toBe(start + 3)
    // No enclosing tidy frees them.
    tf.tidy(() => {
      queueState(queue)
    })
    expect(Object.values(state).every((t) => !t.isDisposed)).toBe(true)
    // The next write consumes the queue value and frees them.
    const keys = tf.ones([2, 2])
    const next = enqueue(queue, keys)
    keys.dispose()
    expect(Object.values(state).every((t) => t.isDisposed)).toBe(true)
    expect(tf.memory().numTensors).toBe(start)
    // The next queue's state; disposing it yourself is harmless: the queue keeps its rows, the next call makes new tensors.
    const nextState = queueState(next)
    tf.dispose(Object.values(nextState))
    expect(rowsOf(next.buffer).slice(3)).toEqual([[1, 1]])
    const again = queueState(next)
    expect(Object.values(again).every((t) => !t.isDisposed)).toBe(true)
    expect(again["memory_queue/pointer"]!.dataSync()[0]).toBe(1)
    // disposeMemoryQueue frees them with the buffer.
    disposeMemoryQueue(next)
    expect(Object.values(again).every((t) => t.isDisposed)).toBe(true)
    expect(tf.memory().numTensors).toBe(start - 1)
  })

  it("round trip at every stage (empty, partly filled, full, wrapped): the restored queue equals the original and stays equal under further enqueues", () => {
    for (const batches of [[], [3], [4, 3], [7], [5, 5, 2], [19]]) {
      const { queue, model } = filledQueue(7, 2, batches, 10)
      const restored = restoreQueue(queueState(queue))
      expect(snapshot(restored)).toEqual(snapshot(queue))
      let a = queue
      let b = restored
      let seed = 50
      for (const n of [1, 3, 6, 7, 9, 2]) {
        const { rows, tensor } = randomRows(n, 2, seed++)
        a = enqueue(a, tensor)
        b = enqueue(b, tensor)
        model.push(rows)
        tensor.dispose()
        expect(snapshot(b)).toEqual(snapshot(a))
        expect(Array.from(b.buffer.dataSync())).toEqual(model.buffer())
      }
      disposeMemoryQueue(a)
      disposeMemoryQueue(b)
    }
  })

  it("several queues in one checkpoint, under their prefixes; entries of other prefixes are ignored", () => {
    const first = filledQueue(4, 2, [3], 20).queue
    const second = filledQueue(6, 3, [8], 30).queue
    const kernel = tf.zeros([2])
    const state = { ...queueState(first, { prefix: "queues/a" }), ...queueState(second, { prefix: "queues/b" }), "model/kernel": kernel }
    const a = restoreQueue(state, { prefix: "queues/a" })
    const b = restoreQueue(state, { prefix: "queues/b" })
    expect(snapshot(a)).toEqual(snapshot(first))
    expect(snapshot(b)).toEqual(snapshot(second))
    expect(() => restoreQueue(state)).toThrow(/^state\["memory_queue\/buffer"\]: is missing: a queue's state written by queueState with prefix "memory_queue" has "memory_queue\/buffer", "memory_queue\/pointer", "memory_queue\/filled" \(the state has a buffer under the prefix "queues\/a", "queues\/b": pass options\.prefix\)/)
    kernel.dispose()
    for (const q of [first, second, a, b]) disposeMemoryQueue(q)
  })

  it("refuses a hostile state, naming the entry and what it allows, and allocates nothing", () => {
    const cases: Array<[string, (s: Record<string, tf.Tensor>) => void, string, RegExp]> = [
      ["buffer of rank 3", (s) => { s["memory_queue/buffer"] = tf.zeros([4, 2, 1]) }, 'state["memory_queue/buffer"]', /expected rank 2 \[size, dim\], got rank 3 with shape \[4, 2, 1\]/],
      ["int32 buffer", (s) => { s["memory_queue/buffer"] = tf.zeros([4, 2], "int32") }, 'state["memory_queue/buffer"]', /expected dtype float32, got int32/],
      ["empty buffer", (s) => { s["memory_queue/buffer"] = tf.zeros([0, 2]) }, 'state["memory_queue/buffer"]', /empty batch: shape \[0, 2\]/],
      ["buffer not a tensor", (s) => { (s as Record<string, unknown>)["memory_queue/buffer"] = [[0, 0]] }, 'state["memory_queue/buffer"]', /expected a tf\.Tensor, got \[\[0,0\]\]/],
      ["float32 pointer", (s) => { s["memory_queue/pointer"] = tf.scalar(2) }, 'state["memory_queue/pointer"]', /expected an int32 scalar, got float32 of shape \[\]/],
      ["pointer of shape [1]", (s) => { s["memory_queue/pointer"] = tf.tensor1d([2], "int32") }, 'state["memory_queue/pointer"]', /expected an int32 scalar, got int32 of shape \[1\]/],
      ["pointer = size", (s) => { s["memory_queue/pointer"] = tf.scalar(4, "int32"); s["memory_queue/filled"] = tf.scalar(4, "int32") }, 'state["memory_queue/pointer"]', /must be in \[0, 3\] \(a row of the \[4, 2\] buffer\), got 4/],
      ["negative pointer", (s) => { s["memory_queue/pointer"] = tf.scalar(-1, "int32"); s["memory_queue/filled"] = tf.scalar(4, "int32") }, 'state["memory_queue/pointer"]', /must be in \[0, 3\] .*got -1/],
      ["filled > size", (s) => { s["memory_queue/filled"] = tf.scalar(5, "int32") }, 'state["memory_queue/filled"]', /must be in \[0, 4\] \(the buffer's rows\), got 5/],
      ["negative filled", (s) => { s["memory_queue/filled"] = tf.scalar(-2, "int32") }, 'state["memory_queue/filled"]', /must be in \[0, 4\] .*got -2/],
      ["pointer ≠ filled while not full", (s) => { s["memory_queue/pointer"] = tf.scalar(1, "int32") }, 'state["memory_queue/pointer"]', /must equal filled \(2\) while the queue is not full \(keys are written from row 0 on\), got 1/],
      ["missing filled", (s) => { delete s["memory_queue/filled"] }, 'state["memory_queue/filled"]', /is missing/],
      ["an entry a queue does not have", (s) => { s["memory_queue/bufer"] = tf.zeros([1]) }, "state", /has entries a queue does not have: "memory_queue\/bufer"; a queue's state is "memory_queue\/buffer", "memory_queue\/pointer", "memory_queue\/filled"/]
    ]
    for (const [label, spoil, argument, message] of cases) {
      const state = good()
      const originals = Object.values(state)
      spoil(state)
      const before = tf.memory().numTensors
      let error: unknown
      try {
        restoreQueue(state)
      } catch (e) {
        error = e
      }
      expect({ label, isInvalidArgument: error instanceof InvalidArgumentError, argument: (error as InvalidArgumentError | undefined)?.argument }).toEqual({ label, isInvalidArgument: true, argument })
      expect({ label, message: (error as Error).message }).toEqual({ label, message: expect.stringMatching(message) })
      expect(tf.memory().numTensors).toBe(before)
      tf.dispose([...originals, ...Object.values(state).filter((t) => t instanceof tf.Tensor)])
    }
    // A full queue may have any pointer.
    const full = { "memory_queue/buffer": tf.zeros([4, 2]), "memory_queue/pointer": tf.scalar(3, "int32"), "memory_queue/filled": tf.scalar(4, "int32") }
    const queue = restoreQueue(full)
    expect([queue.pointer, queue.filled]).toEqual([3, 4])
    disposeMemoryQueue(queue)
    tf.dispose(Object.values(full))
    const extra = good()
    tf.dispose(Object.values(extra))
    expect(() => restoreQueue(extra)).toThrow(/^state\["memory_queue\/buffer"\]: the tensor is disposed/)
    expect(() => restoreQueue(null as never)).toThrow(/^state: expected an object of named tensors \(from queueState\), got null/)
    expect(() => restoreQueue({}, { prefix: "" })).toThrow(/^options\.prefix: must be a non-empty string not ending in "\/", got ""/)
    expect(() => restoreQueue({}, { prefx: "a" } as never)).toThrow(/^options\.prefx: unknown option; known options are "prefix"/)
  })
})
