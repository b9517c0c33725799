/** Small helpers shared by the encoder tests. */
import type * as tfl from "@tensorflow/tfjs-layers"
import { resnet, type ResNetConfig } from "../src/index.ts"

/** Builds `resnet(config)`, runs `fn` on it and frees the model's weights whatever happens. */
export const withModel = <A>(config: ResNetConfig, fn: (m: tfl.LayersModel) => A): A => {
  const m = resnet(config)
  try {
    return fn(m)
  } finally {
    m.dispose()
  }
}
