#!/usr/bin/env node
// The `simclr` command. A committed file rather than dist/cli.js itself: npm links a workspace's bin
// when it installs, before the `prepare` build has written dist, and skips a target that is missing.
await import("../dist/cli.js")
