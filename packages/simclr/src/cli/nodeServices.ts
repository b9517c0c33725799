/**
 * The services effect/cli needs, for Node 20. (`@effect/platform-node` 4.x requires Node ≥ 22.19.)
 * Arguments come from `process.argv`, output goes to the process's streams; the file system and child
 * processes are not used by the commands (paths are checked by the programs themselves).
 */
import { Effect, FileSystem, Layer, Path, Sink, Stdio, Stream, Terminal } from "effect"
import { ChildProcessSpawner } from "effect/process"

const writeTo = (stream: NodeJS.WriteStream) =>
  Sink.forEach((chunk: string | Uint8Array) =>
    Effect.sync(() => {
      stream.write(chunk)
    })
  )

/** Stdio, Terminal, Path and stand-ins for FileSystem and ChildProcessSpawner. */
export const nodeServices = (argv: ReadonlyArray<string>) =>
  Layer.mergeAll(
    FileSystem.layerNoop({}),
    Path.layer,
    Layer.succeed(
      Stdio.Stdio,
      Stdio.make({
        args: Effect.succeed(argv),
        stdout: () => writeTo(process.stdout),
        stderr: () => writeTo(process.stderr),
        stdin: Stream.empty,
        stdinIsTerminal: Effect.sync(() => process.stdin.isTTY === true),
        stdoutIsTerminal: Effect.sync(() => process.stdout.isTTY === true),
        stderrIsTerminal: Effect.sync(() => process.stderr.isTTY === true)
      })
    ),
    Layer.succeed(
      Terminal.Terminal,
      Terminal.make({
        columns: Effect.sync(() => process.stdout.columns ?? 100),
        rows: Effect.sync(() => process.stdout.rows ?? 30),
        size: Effect.die("simclr: terminal size events are not used"),
        readInput: Effect.die("simclr: interactive input is not used"),
        readLine: Effect.die("simclr: interactive input is not used"),
        display: (text) =>
          Effect.sync(() => {
            process.stdout.write(text)
          })
      })
    ),
    Layer.succeed(ChildProcessSpawner.ChildProcessSpawner, ChildProcessSpawner.make(() => Effect.die("simclr: child processes are not used")))
  )
