/* The global symbol marker makes `isInstance` agree across two installed copies of this package. */
/**
 * Errors thrown by the simclr-ts tensor packages for programmer errors (bad shapes, bad options).
 *
 * `SimclrError.isInstance(e)` works across duplicated installs (it checks a global symbol, not the
 * class identity), so prefer it over `instanceof`.
 *
 * @since 0.1.0
 * @category errors
 */
const marker = Symbol.for("@simclr/error")

export class SimclrError extends Error {
  readonly [marker] = true
  override readonly name: string = "SimclrError"

  static isInstance(error: unknown): error is SimclrError {
    return typeof error === "object" && error !== null && (error as { [marker]?: unknown })[marker] === true
  }
}

/**
 * A function argument or option is invalid. `argument` names it (`"z2"`, `"options.temperature"`).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidArgumentError extends SimclrError {
  override readonly name: string = "InvalidArgumentError"
  readonly argument: string

  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`)
    this.argument = argument
  }
}
