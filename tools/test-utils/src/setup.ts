/**
 * Vitest setup file (listed in tools/vitest.shared.ts): selects the backend named by
 * SIMCLR_TEST_BACKEND and registers the `toBeAllclose` matcher.
 */
import * as tf from "@tensorflow/tfjs-core"
import { expect } from "vitest"
import { useTestBackend } from "./backend.ts"
import { toBeAllclose } from "./matchers.ts"

expect.extend({ toBeAllclose })
// Silences the one-time "install tfjs-node" banner (tests pick their backend on purpose). IS_TEST would
// too, but it also turns on a kernel leak check that rejects tensors saved by tf.customGrad for the
// backward pass (tfjs's own softmaxCrossEntropy saves them the same way); tests check leaks themselves.
tf.env().set("PROD", true)
await useTestBackend()
