/**
 * The small shared core of the simclr-ts packages: the error family every package throws, the argument
 * checks behind those errors, and the seeded generator behind every random draw. Installed with any
 * `@simclr` package; the packages re-export the error classes, so users import them from the package
 * they use.
 *
 * @since 0.1.0
 */
export { Random } from "./Random.ts"
export { InvalidArgumentError, SimclrError } from "./SimclrError.ts"
export {
  assertImages,
  assertMatrix,
  assertSameShape,
  assertSameWidth,
  booleanOption,
  describe,
  imageSize,
  knownKeys,
  numberIn,
  oneOf,
  perImage,
  perImageTensor,
  positiveNumber,
  seedOf,
  shapeOf
} from "./validate.ts"
