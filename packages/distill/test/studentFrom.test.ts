/**
 * studentFrom: a ResNet + supervised head, seeded, or started from a pre-trained encoder whose weights
 * are copied by name (mismatches named); it saves and loads as a layers model; assertSameClasses.
 */
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { resnet, type ResNetConfig } from "@simclr/encoders"
import { randomUniform, useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { assertSameClasses, InvalidArgumentError, studentFrom } from "../src/index.ts"

const tiny: ResNetConfig = { depth: 18, stem: "cifar", inputShape: [8, 8, 3], baseWidth: 4, blocksPerGroup: [1, 1, 1, 1] }
const values = (model: tfl.LayersModel): Record<string, Array<number>> => Object.fromEntries(model.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]))

describe("studentFrom", () => {
  useLeakCheck()

  it("images [B, 8, 8, 3] → logits [B, numClasses]; encoder weights by layer name, then the supervised head", () => {
    const student = studentFrom({ encoder: tiny, numClasses: 5, seed: 3 })
    const x = randomUniform([2, 8, 8, 3], 1)
    const logits = student.predict(x) as tf.Tensor
    expect(logits.shape).toEqual([2, 5])
    expect(student.name).toBe("student")
    expect(student.outputs[0]!.shape).toEqual([null, 5])
    const names = student.weights.map((w) => w.originalName)
    expect(names).toContain("conv1/kernel")
    expect(names).toContain("head_supervised.dense/kernel")
    expect(names).toContain("head_supervised.dense/bias")
    // The head (a nested model, as in simclr finetune) sits on h: 32 features (baseWidth 4 · 2³ in the last group).
    expect(student.weights.find((w) => w.originalName === "head_supervised.dense/kernel")!.shape).toEqual([32, 5])
    expect(student.layers.map((l) => l.name)).toEqual(["student_images", "resnet18", "head_supervised"])
    tf.dispose([x, logits])
    student.dispose()
  })

  it("same seed, same weights; another seed, other weights; encoder.seed wins over seed for the encoder", () => {
    const a = studentFrom({ encoder: tiny, numClasses: 3, seed: 1 })
    const b = studentFrom({ encoder: tiny, numClasses: 3, seed: 1 })
    const c = studentFrom({ encoder: tiny, numClasses: 3, seed: 2 })
    const d = studentFrom({ encoder: { ...tiny, seed: 1 }, numClasses: 3, seed: 2 })
    const [va, vb, vc, vd] = [a, b, c, d].map(values) as [Record<string, Array<number>>, Record<string, Array<number>>, Record<string, Array<number>>, Record<string, Array<number>>]
    expect(vb).toEqual(va)
    expect(vc["conv1/kernel"]).not.toEqual(va["conv1/kernel"])
    expect(vc["head_supervised.dense/kernel"]).not.toEqual(va["head_supervised.dense/kernel"])
    expect(vd["conv1/kernel"]).toEqual(va["conv1/kernel"])
    expect(vd["head_supervised.dense/kernel"]).toEqual(vc["head_supervised.dense/kernel"])
    for (const m of [a, b, c, d]) m.dispose()
  })

  it("from a pre-trained encoder: every encoder weight (moving statistics included) copied by name, the head random; the encoder keeps its own", () => {
    const pretrained = resnet({ ...tiny, seed: 9 })
    // Training-mode passes move the moving statistics away from their initial 0 and 1.
    tf.tidy(() => {
      pretrained.apply(randomUniform([4, 8, 8, 3], 2), { training: true })
    })
    const expected = values(pretrained)
    const student = studentFrom({ encoder: tiny, numClasses: 4, pretrained, seed: 5 })
    const got = values(student)
    expect(Object.fromEntries(Object.keys(expected).map((name) => [name, got[name]]))).toEqual(expected)
    expect(expected["bn1/moving_mean"]!.some((v) => v !== 0)).toBe(true)
    const random = studentFrom({ encoder: tiny, numClasses: 4, seed: 5 })
    expect(got["head_supervised.dense/kernel"]).toEqual(values(random)["head_supervised.dense/kernel"])
    // Writing the student does not reach the pre-trained encoder.
    tf.tidy(() => student.weights.forEach((w) => w.write(tf.zerosLike(w.read()))))
    expect(values(pretrained)).toEqual(expected)
    for (const m of [pretrained, student, random]) m.dispose()
  })

  it("a pre-trained encoder of another width or depth is refused, naming the weights", () => {
    const wide = resnet({ ...tiny, baseWidth: 8 })
    const deep = resnet({ ...tiny, blocksPerGroup: [2, 1, 1, 1] })
    const before = tf.memory().numTensors
    const refuse = (pretrained: tfl.LayersModel, message: RegExp): void => {
      let error: unknown
      try {
        studentFrom({ encoder: tiny, numClasses: 4, pretrained })
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe("options.pretrained")
      expect((error as InvalidArgumentError).message).toMatch(message)
    }
    refuse(wide, /^options\.pretrained: does not match the student's encoder config: conv1\/kernel is float32 \[3, 3, 3, 8\] in pretrained, float32 \[3, 3, 3, 4\] in the student; .*A narrower or shallower student cannot start from this encoder/)
    refuse(deep, /has 10 weights the student lacks \(layer1\.1\.conv1\/kernel, /)
    // Nothing is left allocated by the refused builds.
    expect(tf.memory().numTensors).toBe(before)
    wide.dispose()
    deep.dispose()
  })

  it("saves and loads as a layers model (as a fine-tuned model does) with the same outputs", async () => {
    const student = studentFrom({ encoder: tiny, numClasses: 3, seed: 4 })
    let artifacts: tf.io.ModelArtifacts | undefined
    await student.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } }
    }))
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!))
    const x = randomUniform([2, 8, 8, 3], 3)
    const [a, b] = [student.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor]
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()))
    expect(loaded.weights.map((w) => w.originalName)).toEqual(student.weights.map((w) => w.originalName))
    tf.dispose([x, a, b])
    student.dispose()
    loaded.dispose()
  })
})

describe("assertSameClasses", () => {
  useLeakCheck()

  it("returns the class count when teacher and student agree, names the student when they do not", () => {
    const teacher = studentFrom({ encoder: tiny, numClasses: 10, seed: 1 })
    const same = studentFrom({ encoder: { ...tiny, baseWidth: 2 }, numClasses: 10 })
    const other = studentFrom({ encoder: tiny, numClasses: 5 })
    expect(assertSameClasses(teacher, same)).toBe(10)
    expect(() => assertSameClasses(teacher, other)).toThrow(new InvalidArgumentError("student", "outputs 5 classes but the teacher outputs 10: a student must predict the teacher's classes (studentFrom({ numClasses: 10, … }))"))
    expect(() => assertSameClasses(tfl.sequential({ layers: [tfl.layers.reshape({ inputShape: [4], targetShape: [2, 2] })] }), teacher)).toThrow(/^teacher: must be a tf\.LayersModel with one output of logits \[B, C\], got an output of shape \[-1, 2, 2\]$/)
    for (const m of [teacher, same, other]) m.dispose()
  })
})
