#!/usr/bin/env bash
# SimCLR v1 against v2 (memory queues of two sizes) on Fashion-MNIST at equal wall time, on one backend:
# pre-train, then linear evaluation on h (all labels and 1 %) and kNN, and print a table.
#
#   bash tools/bench/scripts/v2-fashion-mnist.sh [out-folder] [backend] [epochs]   (defaults: runs/v2-compare, onednn, 2)
#
# The v1 run is the `fashion-mnist` preset (2 epochs, 468 steps; `epochs` shortens it for a smaller budget). A v2 step costs more (the momentum
# network's forward pass, the queue's negatives), so each v2 run gets the steps that fit in the same
# wall time: a short probe run measures v2's images/s against v1's, and `--train-steps` is set from the
# ratio (the schedule then spans those steps, as v1's spans its 468). Needs Debian's dataset-fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-runs/v2-compare}
BACKEND=${2:-onednn}
EPOCHS=${3:-2}
D=/usr/share/datasets/fashion-mnist
SIMCLR=(node --single-threaded-gc --max-semi-space-size=64 packages/simclr/bin/simclr.js)   # the flags of the bin's shebang
mkdir -p "$OUT"
log() { echo "[$(date +%T)] $*" >&2; }

# Steady-state images/s of a run folder: the median over steps 11.. of its metrics (the first steps warm up).
rate() { node -e '
  const lines = require("fs").readFileSync(process.argv[1] + "/metrics.jsonl", "utf8").trim().split("\n").map(JSON.parse).slice(10).map((m) => m.imagesPerSecond).sort((a, b) => a - b)
  console.log(lines[Math.floor(lines.length / 2)])' "$1"; }

evaluate() {
  local run=$1
  "${SIMCLR[@]}" linear-eval --run "$run" --train $D --test $D --standardize --backend "$BACKEND" >&2
  "${SIMCLR[@]}" linear-eval --run "$run" --train $D --test $D --standardize --label-fraction 0.01 --backend "$BACKEND" >&2
  "${SIMCLR[@]}" knn --run "$run" --train $D --test $D --backend "$BACKEND" >&2
}

if [ ! -f "$OUT/v1/results.json" ]; then
  log "v1: fashion-mnist preset"
  "${SIMCLR[@]}" pretrain --preset fashion-mnist --epochs "$EPOCHS" --data $D --out "$OUT/v1" --backend "$BACKEND" >&2
fi
V1_STEPS=$(node -p 'require(require("path").resolve(process.argv[1])).steps' "$OUT/v1/results.json")
for QUEUE in 4096 16384; do
  RUN="$OUT/v2-q$QUEUE"
  if [ ! -f "$RUN/results.json" ]; then
    PROBE="$OUT/probe-q$QUEUE"
    rm -rf "$PROBE"
    "${SIMCLR[@]}" pretrain --preset fashion-mnist-v2 --positives online --queue-size $QUEUE --data $D --out "$PROBE" --max-steps 40 --backend "$BACKEND" >&2
    # The probe runs the first 40 steps; v1's rate comes from its own first 40, warm-up alike.
    STEPS=$(node -e '
      const fs = require("fs")
      const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
      const r = (dir) => median(fs.readFileSync(dir + "/metrics.jsonl", "utf8").trim().split("\n").map(JSON.parse).slice(10, 40).map((m) => m.imagesPerSecond))
      console.log(Math.round(Number(process.argv[3]) * r(process.argv[2]) / r(process.argv[1])))' "$OUT/v1" "$PROBE" "$V1_STEPS")
    log "v2, queue $QUEUE: $STEPS steps for v1's wall time"
    rm -rf "$PROBE"
    "${SIMCLR[@]}" pretrain --preset fashion-mnist-v2 --positives online --queue-size $QUEUE --epochs "$EPOCHS" --train-steps "$STEPS" --data $D --out "$RUN" --backend "$BACKEND" >&2
  fi
done
for RUN in "$OUT/v1" "$OUT/v2-q4096" "$OUT/v2-q16384"; do
  [ -f "$RUN/knn-h.json" ] || evaluate "$RUN"
done

node -e '
const fs = require("fs")
const out = process.argv[1]
const read = (f) => JSON.parse(fs.readFileSync(f, "utf8"))
const pct = (x) => (100 * x).toFixed(1) + " %"
console.log("| run | steps | pre-training wall time | images/s | linear on h, all labels | linear on h, 1 % | kNN on h | contrastive accuracy (in-batch) at 25 / 50 / 75 / 100 % of the run |")
console.log("|---|---|---|---|---|---|---|---|")
for (const [name, dir] of [["v1 (`fashion-mnist`)", "v1"], ["v2, queue 4,096 (`fashion-mnist-v2`)", "v2-q4096"], ["v2, queue 16,384", "v2-q16384"]]) {
  const r = read(`${out}/${dir}/results.json`)
  const metrics = fs.readFileSync(`${out}/${dir}/metrics.jsonl`, "utf8").trim().split("\n").map(JSON.parse)
  // Mean of the 20 steps ending at each quarter (one step is noisy).
  const at = (f) => { const end = Math.round(f * metrics.length); const w = metrics.slice(Math.max(0, end - 20), end); return (100 * w.reduce((a, m) => a + m.contrastiveAccuracy, 0) / w.length).toFixed(1) }
  const ips = metrics.map((m) => m.imagesPerSecond).sort((a, b) => a - b)[Math.floor(metrics.length / 2)]
  console.log(`| ${name} | ${r.steps} | ${(r.seconds / 60).toFixed(1)} min | ${ips.toFixed(0)} | ${pct(read(`${out}/${dir}/linear-eval-h.json`).top1)} | ${pct(read(`${out}/${dir}/linear-eval-h-1pct.json`).top1)} | ${pct(read(`${out}/${dir}/knn-h.json`).top1)} | ${[0.25, 0.5, 0.75, 1].map(at).join(" / ")} % |`)
}' "$OUT"
