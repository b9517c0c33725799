import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { InvalidArgumentError, momentumEncoder } from "../src/index.ts"
import { disposeModels, perturb, tinySimclr, valuesByName } from "./reference.ts"

/** Every layer of a model tree. */
const layerTree = (model: tfl.LayersModel): Array<tfl.layers.Layer> => {
  const out: Array<tfl.layers.Layer> = []
  const walk = (layers: ReadonlyArray<tfl.layers.Layer>): void => {
    for (const l of layers) {
      out.push(l)
      const nested = (l as unknown as { layers?: ReadonlyArray<tfl.layers.Layer> }).layers
      if (nested !== undefined) walk(nested)
    }
  }
  walk(model.layers)
  return out
}

const outputs = (model: tfl.LayersModel, x: tf.Tensor): Array<Array<number>> =>
  tf.tidy(() => {
    const y = model.apply(x, { training: false }) as tf.Tensor | Array<tf.Tensor>
    return (Array.isArray(y) ? y : [y]).map((t) => Array.from(t.dataSync()))
  })

const tinySequential = (): tfl.Sequential =>
  tfl.sequential({
    name: "tiny",
    layers: [
      tfl.layers.dense({ inputShape: [4], units: 5, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }), biasInitializer: tfl.initializers.randomNormal({ seed: 2 }) }),
      tfl.layers.batchNormalization({ momentum: 0.9 }),
      tfl.layers.reLU(),
      tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotNormal({ seed: 3 }) })
    ]
  })

/** The error `f` throws. */
const fail = (f: () => unknown): InvalidArgumentError => {
  try {
    f()
  } catch (error) {
    return error as InvalidArgumentError
  }
  throw new Error("did not throw")
}

/** Checks a copy: same architecture and values, own variables, not trainable. */
const expectCopy = (online: tfl.LayersModel, target: tfl.LayersModel, x: tf.Tensor): void => {
  expect(target.name).toBe(`${online.name}_momentum`)
  expect(target.getClassName()).toBe(online.getClassName())
  expect(layerTree(target).map((l) => l.getClassName())).toEqual(layerTree(online).map((l) => l.getClassName()))
  // Same weights, value for value (copies: exact), under the same names.
  const a = valuesByName(online)
  const b = valuesByName(target)
  expect([...b.keys()].toSorted()).toEqual([...a.keys()].toSorted())
  for (const [name, values] of a) expect({ name, values: Array.from(b.get(name)!) }).toEqual({ name, values: Array.from(values) })
  // Its own variables.
  const onlineVariables = new Set(online.weights.map((w) => w.read()))
  expect(target.weights.some((w) => onlineVariables.has(w.read()))).toBe(false)
  // Not trainable: no trainable weight at any level, every variable non-trainable.
  expect(target.trainable).toBe(false)
  expect(target.trainableWeights).toEqual([])
  expect(layerTree(target).filter((l) => l.trainable || l.trainableWeights.length > 0).map((l) => l.name)).toEqual([])
  expect(target.weights.filter((w) => w.trainable || (w.read() as tf.Variable).trainable).map((w) => w.originalName)).toEqual([])
  const registeredTrainable = new Set<tf.Tensor>(Object.values(tf.engine().registeredVariables).filter((v) => v.trainable))
  expect(target.weights.some((w) => registeredTrainable.has(w.read()))).toBe(false)
  // Same outputs in inference mode: the same ops on the same values.
  expect(outputs(target, x)).toEqual(outputs(online, x))
}

describe("momentumEncoder", () => {
  useLeakCheck()

  it("copies a tfl.sequential model: same outputs, its own non-trainable variables; one tensor per weight", () => {
    const online = tinySequential()
    const x = randomNormal([6, 4], 1)
    const before = tf.memory().numTensors
    const target = momentumEncoder(online)
    expect(tf.memory().numTensors).toBe(before + online.weights.length)
    expectCopy(online, target, x)
    // The online model is still trainable.
    expect(online.trainableWeights.length).toBe(6)
    // Changing the online weights does not change the target.
    const saved = valuesByName(target)
    perturb(online.weights, 4)
    for (const [name, values] of valuesByName(target)) expect(Array.from(values)).toEqual(Array.from(saved.get(name)!))
    expect(outputs(target, x)).not.toEqual(outputs(online, x))
    disposeModels(online, target)
    x.dispose()
  })

  it("copies the real SimCLR model (ResNet-18 + v2 head: nested models, three outputs, both batch-norm classes)", () => {
    const online = tinySimclr()
    const classes = new Set(layerTree(online).map((l) => l.getClassName()))
    expect(classes).toContain("BatchNormalization")
    expect(classes).toContain("SimclrBatchNormalization")
    const x = randomNormal([3, 8, 8, 3], 2)
    const target = momentumEncoder(online)
    expect(target.outputs.length).toBe(3)
    expectCopy(online, target, x)
    perturb(online.trainableWeights, 5)
    const copy = valuesByName(target)
    const changed = valuesByName(online)
    expect(online.trainableWeights.every((w) => Array.from(copy.get(w.originalName)!).join() !== Array.from(changed.get(w.originalName)!).join())).toBe(true)
    disposeModels(online, target)
    x.dispose()
  })

  it("copies a ResNet-50 with selective kernels (SimclrSkStreamSum, SimclrSkMix) and the ResNet-D stem", () => {
    const online = tinySimclr({ sk: true })
    const classes = new Set(layerTree(online).map((l) => l.getClassName()))
    expect(classes).toContain("SimclrSkMix")
    expect(classes).toContain("SimclrSkStreamSum")
    const x = randomNormal([2, 8, 8, 3], 3)
    const target = momentumEncoder(online)
    expectCopy(online, target, x)
    disposeModels(online, target)
    x.dispose()
  })

  it("frees everything: the tensor count returns to its start once both models are disposed", () => {
    const before = tf.memory().numTensors
    const online = tinySimclr()
    const target = momentumEncoder(online)
    expect(tf.memory().numTensors).toBe(before + 2 * online.weights.length)
    disposeModels(online, target)
    expect(tf.memory().numTensors).toBe(before)
  })

  it("refuses what it cannot copy, naming the argument", () => {
    class Unregistered extends tfl.layers.Layer {
      static className = "MemoryQueueTestUnregistered"
      override call(inputs: tf.Tensor | Array<tf.Tensor>): tf.Tensor {
        return tf.tidy(() => tf.mul(Array.isArray(inputs) ? inputs[0]! : inputs, 2))
      }
    }
    const input = tfl.input({ shape: [2] })
    const custom = tfl.model({ inputs: input, outputs: new Unregistered({}).apply(tfl.layers.dense({ units: 2 }).apply(input)) as tfl.SymbolicTensor })
    const e = fail(() => momentumEncoder(custom))
    expect(e).toBeInstanceOf(InvalidArgumentError)
    expect(e.argument).toBe("online")
    expect(e.message).toMatch(/^online: cannot be rebuilt from its config \(a custom layer must be registered with tf\.serialization\.registerClass; import the package that defines it\): .*MemoryQueueTestUnregistered/)
    custom.dispose()
    expect(() => momentumEncoder(custom)).toThrow(/^online: is disposed \(its weight .*kernel is\)/)
    const tensor = tf.zeros([2])
    expect(() => momentumEncoder(tensor as never)).toThrow(/^online: expected a tfjs-layers model \(tf\.LayersModel, e\.g\. from tfl\.model or tfl\.sequential\), got a tensor of shape \[2\]/)
    tensor.dispose()
    expect(() => momentumEncoder(undefined as never)).toThrow(/^online: expected a tfjs-layers model/)
  })
})
