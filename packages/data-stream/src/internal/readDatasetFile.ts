import { Effect } from "effect"
import { readFile, stat } from "node:fs/promises"
import { promisify } from "node:util"
import { gunzip } from "node:zlib"
import { DatasetFormatError, DatasetNotFoundError, reasonOf } from "../DataStreamError.ts"

const gunzipAsync = promisify(gunzip)

export interface DatasetFile {
  readonly path: string
  readonly bytes: Uint8Array
  /** size and mtime of the file on disk, for fingerprints. */
  readonly size: number
  readonly mtimeMs: number
}

/** Reads a file, gunzipping it when its content starts with the gzip magic bytes (whatever its name). */
export const readDatasetFile = (path: string): Effect.Effect<DatasetFile, DatasetNotFoundError | DatasetFormatError> =>
  Effect.gen(function*() {
    const { raw, info } = yield* Effect.tryPromise({
      try: async () => ({ info: await stat(path), raw: await readFile(path) }),
      catch: (error) => new DatasetNotFoundError({ path, reason: reasonOf(error) })
    })
    const gzipped = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b
    const bytes = gzipped
      ? yield* Effect.tryPromise({
        try: () => gunzipAsync(raw),
        catch: (error) => new DatasetFormatError({ path, reason: `gzip data is corrupt or truncated (${reasonOf(error)})` })
      })
      : raw
    return { path, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), size: info.size, mtimeMs: info.mtimeMs }
  })
