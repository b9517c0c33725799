#!/usr/bin/env -S node --single-threaded-gc --max-semi-space-size=64
// V8 flags: its concurrent GC threads otherwise compete with the native kernels' threads for the cores
// (a ResNet-18 ×0.25 step on @simclr/backend-onednn: 1.8 s → 1.0 s on 2 cores).
// The `simclr` command. A committed file rather than dist/cli.js itself: npm links a workspace's bin
// when it installs, before the `prepare` build has written dist, and skips a target that is missing.
await import("../dist/cli.js")
