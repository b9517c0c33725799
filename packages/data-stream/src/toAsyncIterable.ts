/**
 * For code that does not use Effect.
 *
 * @since 0.1.0
 */
import { Stream } from "effect"

/**
 * Runs a stream as an async iterable: `for await (const batch of toAsyncIterable(imageBatches(…)))`.
 * The stream's typed failures reject the loop with the error (its `message` names what and where);
 * breaking out of the loop stops the stream and releases its resources (the cache file, pending reads).
 *
 * @category destructors
 * @since 0.1.0
 */
export const toAsyncIterable = <A, E>(stream: Stream.Stream<A, E>): AsyncIterable<A> => Stream.toAsyncIterable(stream)
