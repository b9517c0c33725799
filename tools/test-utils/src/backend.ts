/**
 * Picks the tfjs backend the tests run on, from the environment variable `SIMCLR_TEST_BACKEND`
 * (default `cpu`), the way tfjs runs one suite on every backend.
 */
import * as tf from "@tensorflow/tfjs-core"

export const TEST_BACKENDS = ["cpu", "wasm", "tensorflow"] as const
export type TestBackend = (typeof TEST_BACKENDS)[number]

export const requestedTestBackend = (env: Record<string, string | undefined> = process.env): TestBackend => {
  const raw = env["SIMCLR_TEST_BACKEND"]
  if (raw === undefined || raw === "") return "cpu"
  if ((TEST_BACKENDS as ReadonlyArray<string>).includes(raw)) return raw as TestBackend
  throw new Error(`SIMCLR_TEST_BACKEND must be one of ${TEST_BACKENDS.map((b) => `"${b}"`).join(", ")}; got "${raw}"`)
}

const importBackend = async (name: TestBackend): Promise<void> => {
  switch (name) {
    case "cpu":
      await import("@tensorflow/tfjs-backend-cpu")
      return
    case "wasm":
      await import("@tensorflow/tfjs-backend-wasm")
      return
    case "tensorflow": {
      // An optional peer: present only where libtensorflow could be installed.
      const specifier = "@tensorflow/tfjs-node"
      try {
        await import(/* @vite-ignore */ specifier)
      } catch (cause) {
        throw new Error(
          `SIMCLR_TEST_BACKEND=tensorflow needs @tensorflow/tfjs-node (npm install @tensorflow/tfjs-node@4.22.0)`,
          { cause }
        )
      }
      return
    }
  }
}

/** Imports, selects and initialises the requested backend; returns its name. */
export const useTestBackend = async (name: TestBackend = requestedTestBackend()): Promise<TestBackend> => {
  await importBackend(name)
  const ok = await tf.setBackend(name)
  if (!ok) throw new Error(`tfjs backend "${name}" failed to initialise`)
  await tf.ready()
  return name
}

/**
 * Runs `fn` on the suite's backend when that backend registers `kernel`, else on the cpu backend (for a
 * check that needs a kernel the suite's backend lacks, e.g. tfjs' own wasm has no
 * `Conv2DBackpropFilter`), and switches back afterwards. Returns the backend `fn` ran on, so the test can
 * say so. Tensors `fn` keeps must be made inside it.
 */
export const onBackendWithKernel = async (kernel: string, fn: () => void | Promise<void>): Promise<string> => {
  const suite = tf.getBackend()
  if (tf.getKernel(kernel, suite) !== undefined) {
    await fn()
    return suite
  }
  await importBackend("cpu")
  await tf.setBackend("cpu")
  try {
    await fn()
  } finally {
    await tf.setBackend(suite)
  }
  return "cpu"
}
