/**
 * Values and gradients against fixtures generated with PyTorch (float64 autograd) from the reference
 * formulas: tools/fixtures/losses.py, a port of google-research/simclr `add_contrastive_loss` (block
 * formulation), MoCo's InfoNCE and the SimCLR v2 distillation loss. The inputs are float32 values,
 * so both sides start from identical numbers.
 *
 * Tolerance: float32 against float64, |Δ| ≤ 1e-5·|ref| + 1e-5·max(max|ref|, 0.01) per tensor (relative
 * to the element and to the scale of the tensor, so near-zero gradient entries are not held to a
 * relative bound they cannot meet in float32; the 0.01 floor is for the b2-d1 case, whose exact
 * gradient is zero and whose float64 reference is rounding noise of 1e-14); losses and metrics
 * |Δ| ≤ 1e-5·|ref| + 1e-6 (entropy 2e-5·|ref|: a near-one-hot softmax in float32).
 */
import * as tf from "@tensorflow/tfjs-core"
import { useLeakCheck } from "@simclr/test-utils"
import { describe, expect, it } from "vitest"
import { distillationLoss, infoNce, ntXent, ntXentMetrics, type NtXentReduction } from "../src/index.ts"
import fixtures from "./fixtures/losses.json" with { type: "json" }

type Rows = Array<Array<number>>

const scaleTolerance = (ref: Rows) => ({ rtol: 1e-5, atol: 1e-5 * Math.max(0.01, ...ref.flat().map(Math.abs)) })
const scalarTolerance = { rtol: 1e-5, atol: 1e-6 }

describe("ntXent matches the PyTorch port of the official add_contrastive_loss", () => {
  useLeakCheck()
  for (const c of fixtures.ntXent) {
    it(`${c.name}: loss, gradients and metrics (B=${c.batch}, D=${c.dim}, τ=${c.temperature})`, () => {
      const z1 = tf.tensor2d(c.z1)
      const z2 = tf.tensor2d(c.z2)
      const negatives = c.negatives === null ? undefined : tf.tensor2d(c.negatives as Rows)
      const options = {
        temperature: c.temperature,
        normalize: c.normalize,
        reduction: c.reduction as NtXentReduction,
        negatives
      }
      const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) =>
        ntXent(a as tf.Tensor2D, b as tf.Tensor2D, options)
      )([z1, z2])
      expect(value.shape).toEqual([])
      expect(value).toBeAllclose(c.loss, scalarTolerance)
      expect(grads[0]!).toBeAllclose(c.grad_z1, scaleTolerance(c.grad_z1))
      expect(grads[1]!).toBeAllclose(c.grad_z2, scaleTolerance(c.grad_z2))
      const { accuracy, entropy } = ntXentMetrics(z1, z2, options)
      expect(accuracy).toBeAllclose(c.accuracy, scalarTolerance)
      expect(entropy).toBeAllclose(c.entropy, { rtol: 2e-5, atol: 1e-6 })
      tf.dispose([z1, z2, negatives, value, ...grads, accuracy, entropy])
    })
  }
})

describe("infoNce matches the PyTorch MoCo form", () => {
  useLeakCheck()
  for (const c of fixtures.infoNce) {
    it(`${c.name}: loss and gradients for query and key`, () => {
      const [q, k, n] = [tf.tensor2d(c.query), tf.tensor2d(c.positiveKey), tf.tensor2d(c.negatives)]
      const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) =>
        infoNce(a as tf.Tensor2D, b as tf.Tensor2D, n, { temperature: c.temperature, normalize: c.normalize })
      )([q, k])
      expect(value).toBeAllclose(c.loss, scalarTolerance)
      expect(grads[0]!).toBeAllclose(c.grad_query, scaleTolerance(c.grad_query))
      expect(grads[1]!).toBeAllclose(c.grad_positiveKey, scaleTolerance(c.grad_positiveKey))
      tf.dispose([q, k, n, value, ...grads])
    })
  }
})

describe("distillationLoss matches PyTorch", () => {
  useLeakCheck()
  for (const c of fixtures.distillation) {
    it(`${c.name}: loss and student gradient`, () => {
      const [s, t] = [tf.tensor2d(c.student), tf.tensor2d(c.teacher)]
      const options = { temperature: c.temperature, scaleByTemperatureSquared: c.scaleByTemperatureSquared }
      const { value, grad } = tf.valueAndGrad((a: tf.Tensor) => distillationLoss(a as tf.Tensor2D, t, options))(s)
      expect(value).toBeAllclose(c.loss, scalarTolerance)
      expect(grad).toBeAllclose(c.grad_student, scaleTolerance(c.grad_student))
      tf.dispose([s, t, value, grad])
    })
  }
})
