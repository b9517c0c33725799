import { allclose, type AllcloseOptions, type Numeric } from "./allclose.ts"

/** `expect(actual).toBeAllclose(expected, { rtol, atol })`, registered by `@simclr/test-utils/setup`. */
export const toBeAllclose = (actual: Numeric, expected: Numeric, options: AllcloseOptions = {}) => {
  const result = allclose(actual, expected, options)
  return {
    pass: result.pass,
    message: () => (result.pass ? `expected values not to be close: ${result.message}` : `expected values to be close: ${result.message}`)
  }
}

declare module "vitest" {
  interface Matchers<R extends void | Promise<void> = void | Promise<void>, T = unknown> {
    toBeAllclose: (expected: Numeric, options?: AllcloseOptions) => R
  }
}
