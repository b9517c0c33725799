/**
 * @simclr/encoders registers its own batch norm under tfjs-layers' name "BatchNormalization" (for its
 * fused training path). The heads' SimclrBatchNormalization has its own name, so a saved encoder + head
 * reloads both. This file re-registers "BatchNormalization" the same way (its own process: vitest runs
 * each file in a fork).
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { randomNormal, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { projectionHead, SimclrBatchNormalization, simclrModel } from "../src/index.ts"
import { disposeAll, isBatchNorm, randomiseBatchNorms, roundTrip, weightNames } from "./reference.ts"

type StockInstance = ReturnType<typeof tfl.layers.batchNormalization>
interface StockClass extends Omit<typeof tfl.layers.Layer, "prototype"> {
  new (args?: Parameters<typeof tfl.layers.batchNormalization>[0]): StockInstance
  readonly prototype: StockInstance
}
const Stock = tfl.layers.batchNormalization({}).constructor as unknown as StockClass

/** As @simclr/encoders' layer: a subclass registered under the stock class name. */
class EncoderBatchNormalization extends Stock {
  static className = "BatchNormalization"
}

const encoder = (): tfl.LayersModel => {
  const input = tfl.input({ shape: [6, 6, 2] })
  const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 3, useBias: false, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }), name: "enc.conv" }).apply(input)
  const bn = new EncoderBatchNormalization({ momentum: 0.9, epsilon: 1e-5, name: "enc.bn" }).apply(conv) as tfl.SymbolicTensor
  const h = tfl.layers.globalAveragePooling2d({ name: "enc.pool" }).apply(tfl.layers.reLU({ name: "enc.relu" }).apply(bn)) as tfl.SymbolicTensor
  return tfl.model({ inputs: input, outputs: h, name: "encoder" })
}

const nestedBatchNorms = (model: tfl.LayersModel): Array<tfl.layers.Layer> =>
  model.layers.flatMap((l) => (l instanceof tfl.LayersModel ? l.layers : [l])).filter(isBatchNorm)

describe("SimclrBatchNormalization next to a layer registered as BatchNormalization", () => {
  useLeakCheck()

  it("a saved encoder + head reloads both kinds of batch norm and computes the same outputs", async () => {
    tf.serialization.registerClass(EncoderBatchNormalization)
    const enc = encoder()
    const head = projectionHead({ inputDim: 3, numLayers: 2, hiddenDim: 4, outputDim: 2, seed: 1 })
    randomiseBatchNorms(enc, 1)
    randomiseBatchNorms(head, 2)
    const model = simclrModel(enc, head)
    const { loaded } = await roundTrip(model)
    const kinds = (m: tfl.LayersModel) => nestedBatchNorms(m).map((l) => [l.name, l instanceof SimclrBatchNormalization ? "heads" : l instanceof EncoderBatchNormalization ? "encoders" : "stock"])
    // The head's β-carrying BNs were stock layers; reloaded, they are whatever "BatchNormalization" names now.
    expect(kinds(model)).toEqual([["enc.bn", "encoders"], ["projection_head.0.bn", "stock"], ["projection_head.1.bn", "heads"]])
    expect(kinds(loaded)).toEqual([["enc.bn", "encoders"], ["projection_head.0.bn", "encoders"], ["projection_head.1.bn", "heads"]])
    expect(weightNames(loaded.trainableWeights)).toEqual(weightNames(model.trainableWeights))
    const x = randomNormal([4, 6, 6, 2], 3)
    for (const training of [false, true]) {
      const a = model.apply(x, { training }) as Array<tf.Tensor>
      const b = loaded.apply(x, { training }) as Array<tf.Tensor>
      expect(b.map((t) => Array.from(t.dataSync()))).toEqual(a.map((t) => Array.from(t.dataSync())))
      tf.dispose([a, b])
    }
    tf.dispose(x)
    disposeAll(enc, head, loaded)
  })
})
