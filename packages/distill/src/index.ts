/**
 * SimCLR v2's third stage for TensorFlow.js: distillation of a fine-tuned teacher into a student on
 * unlabeled images. The teacher's softened predictions (`teacherTargets`), the distillation loss with
 * optional labeled cross-entropy, confidence threshold and τ² switch (`distillLoss`) and its metrics
 * (`distillMetrics`), and a student built from an `@simclr/encoders` ResNet config plus an
 * `@simclr/heads` supervised head (`studentFrom`). Plain functions on tensors and models;
 * `@tensorflow/tfjs-core` and `@tensorflow/tfjs-layers` are peer dependencies.
 *
 * @since 0.1.0
 */
export { distillLoss, type DistillLossOptions } from "./distillLoss.ts"
export { type DistillMetrics, distillMetrics } from "./distillMetrics.ts"
export { assertSameClasses } from "./assertSameClasses.ts"
export { studentFrom, type StudentOptions } from "./studentFrom.ts"
export { teacherTargets, type TeacherTargetsOptions } from "./teacherTargets.ts"
export { InvalidArgumentError, SimclrError } from "@simclr/core"
