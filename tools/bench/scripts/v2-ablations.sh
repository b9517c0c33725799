#!/usr/bin/env bash
# Why the memory queue does not help at Fashion-MNIST scale: ablations next to the runs of
# v2-fashion-mnist.sh (same folder). Each run has a fixed number of steps, so its accuracy does not depend
# on the machine's load; the one run at equal wall time gets its steps from a 40-step probe, as in
# v2-fashion-mnist.sh (run it on a quiet machine).
#
#   bash tools/bench/scripts/v2-ablations.sh [out-folder] [backend]   (defaults: runs/v2-compare, onednn)
#
#   v2-q4096-momentum       MoCo's positives (z1 against k2, z2 against k1) at the online run's steps: the
#                           online network cannot lower the loss by drifting away from the momentum keys
#   v2-q4096-momentum-t<N>  the same at v1's wall time (MoCo's positives cost more per step: N < 398)
#   v1-head3                v1 with v2's 3-layer head: separates the head from the queue
#   v2-q16384-momentum      MoCo's positives with the bigger queue, at the online run's steps
# Every run is evaluated as in v2-fashion-mnist.sh (linear on h with all labels and 1 %, kNN), and a table
# is printed with the loss at 50 % and at the end (a loss that rises while the learning rate decays is the
# sign of the drift).
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-runs/v2-compare}
BACKEND=${2:-onednn}
D=/usr/share/datasets/fashion-mnist
SIMCLR=(node --single-threaded-gc --max-semi-space-size=64 packages/simclr/bin/simclr.js)
mkdir -p "$OUT"
log() { echo "[$(date +%T)] $*" >&2; }
evaluate() {
  local run=$1
  [ -f "$run/linear-eval-h.json" ] || "${SIMCLR[@]}" linear-eval --run "$run" --train $D --test $D --standardize --backend "$BACKEND" >&2
  [ -f "$run/linear-eval-h-1pct.json" ] || "${SIMCLR[@]}" linear-eval --run "$run" --train $D --test $D --standardize --label-fraction 0.01 --backend "$BACKEND" >&2
  [ -f "$run/knn-h.json" ] || "${SIMCLR[@]}" knn --run "$run" --train $D --test $D --backend "$BACKEND" >&2
}
pretrain() {   # name, flags...
  local run="$OUT/$1"; shift
  if [ ! -f "$run/results.json" ]; then log "pretrain $run: $*"; "${SIMCLR[@]}" pretrain --data $D --out "$run" --backend "$BACKEND" "$@" >&2; fi
  evaluate "$run"
}
# The equal-time runs of v2-fashion-mnist.sh first (their evaluations, when missing).
for RUN in v1 v2-q4096 v2-q16384; do [ -f "$OUT/$RUN/results.json" ] && evaluate "$OUT/$RUN"; done
STEPS=$(node -p 'require(require("path").resolve(process.argv[1])).steps' "$OUT/v2-q4096/results.json" 2>/dev/null || echo 398)
pretrain v2-q4096-momentum --preset fashion-mnist-v2 --queue-size 4096 --positives momentum --epochs 2 --train-steps "$STEPS"
# Equal wall time: the steps v1's run time affords at the images/s of a 40-step probe (warm-up alike).
PROBE="$OUT/probe-q4096-momentum"
if ! ls -d "$OUT"/v2-q4096-momentum-t* > /dev/null 2>&1; then
  rm -rf "$PROBE"
  "${SIMCLR[@]}" pretrain --preset fashion-mnist-v2 --positives momentum --queue-size 4096 --data $D --out "$PROBE" --max-steps 40 --backend "$BACKEND" >&2
  EQUAL=$(node -e '
    const fs = require("fs")
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    const r = (dir) => median(fs.readFileSync(dir + "/metrics.jsonl", "utf8").trim().split("\n").map(JSON.parse).slice(10, 40).map((m) => m.imagesPerSecond))
    const v1 = JSON.parse(fs.readFileSync(process.argv[1] + "/results.json", "utf8")).steps
    console.log(Math.round(v1 * r(process.argv[2]) / r(process.argv[1])))' "$OUT/v1" "$PROBE")
  rm -rf "$PROBE"
  log "v2, queue 4096, momentum positives: $EQUAL steps for v1's wall time"
  pretrain "v2-q4096-momentum-t$EQUAL" --preset fashion-mnist-v2 --queue-size 4096 --positives momentum --epochs 2 --train-steps "$EQUAL"
fi
printf '{ "head": { "numLayers": 3 } }\n' > "$OUT/head3.json"
pretrain v1-head3 --preset fashion-mnist --config "$OUT/head3.json" --epochs 2
pretrain v2-q16384-momentum --preset fashion-mnist-v2 --queue-size 16384 --positives momentum --epochs 2 --train-steps "$STEPS"

node -e '
const fs = require("fs")
const out = process.argv[1]
const read = (f) => { try { return JSON.parse(fs.readFileSync(f, "utf8")) } catch { return undefined } }
const pct = (x) => x === undefined ? "not run" : (100 * x).toFixed(1) + " %"
console.log("| run | head layers | positives | queue | steps | wall time | linear on h, all | linear on h, 1 % | kNN on h | loss at 50 % / end | contrastive accuracy at 50 % / end |")
console.log("|---|---|---|---|---|---|---|---|---|---|---|")
for (const dir of fs.readdirSync(out).filter((d) => fs.existsSync(`${out}/${d}/results.json`)).sort()) {
  const c = read(`${out}/${dir}/config.json`), r = read(`${out}/${dir}/results.json`)
  const m = fs.readFileSync(`${out}/${dir}/metrics.jsonl`, "utf8").trim().split("\n").map(JSON.parse)
  const mean = (f, key) => { const end = Math.round(f * m.length); const w = m.slice(Math.max(0, end - 20), end); return w.reduce((a, x) => a + x[key], 0) / w.length }
  console.log(`| ${dir} | ${c.head.numLayers} | ${c.v2 ? c.v2.positives : "(v1)"} | ${c.v2 ? c.v2.queueSize : 0} | ${r.steps} | ${(r.seconds / 60).toFixed(1)} min | ${pct(read(`${out}/${dir}/linear-eval-h.json`)?.top1)} | ${pct(read(`${out}/${dir}/linear-eval-h-1pct.json`)?.top1)} | ${pct(read(`${out}/${dir}/knn-h.json`)?.top1)} | ${mean(0.5, "loss").toFixed(2)} / ${mean(1, "loss").toFixed(2)} | ${(100 * mean(0.5, "contrastiveAccuracy")).toFixed(1)} / ${(100 * mean(1, "contrastiveAccuracy")).toFixed(1)} % |`)
}' "$OUT"
