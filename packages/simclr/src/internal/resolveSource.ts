import type { Source, SourceLike } from "@simclr/data-stream"
import { Effect } from "effect"

/** A source, or the effect a `from*` function returns, as a source. */
export const resolveSource = <E>(source: SourceLike<E>): Effect.Effect<Source, E> =>
  Effect.isEffect(source) ? (source as Effect.Effect<Source, E>) : Effect.succeed(source as Source)
