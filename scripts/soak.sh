#!/usr/bin/env bash
# soak.sh: a long training run with memory sampled over time (issue 7). Not part of CI.
#   scripts/soak.sh [ITERS] [OUTDIR]     (default 5000 iterations, /tmp/lmpseg-soak)
# Trains a linear head on the demo backbone with the backbone in the loop (no feature cache, so
# onnxruntime runs every step) and augmentation on, sampling the process RSS every 5 s into
# OUTDIR/rss.csv. At the end it prints the RSS after warm-up and at the end, and the growth.
set -euo pipefail
iters=${1:-5000}
out=${2:-/tmp/lmpseg-soak}
root=$(cd "$(dirname "$0")/.." && pwd)
make -C "$root" -s build onnxruntime
bin="$root/bin/lmpseg"
mkdir -p "$out"
[ -f "$out/data/train/classes.txt" ] || "$bin" synth --out "$out/data" --train 40 --val 8
cp "$root/testdata/models/demo_backbone.onnx" "$out/backbone.onnx"
"$bin" train --backbone "$out/backbone.onnx" --feature features --data "$out/data/train" --val-data "$out/data/val" \
  --out "$out/run" --force --iters "$iters" --batch 2 --crop 128x256 --lr 0.05 --val-every 1000 --ckpt-every 250 \
  --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 --range 0-255 > "$out/train.log" 2>&1 &
pid=$!
echo "seconds,rss_kib" > "$out/rss.csv"
t0=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(( $(date +%s) - t0 )),$rss" >> "$out/rss.csv"
  sleep 5
done
wait "$pid"
tail -2 "$out/train.log"
python3 - "$out/rss.csv" <<'PY' || true
import sys
rows=[tuple(map(int,l.split(","))) for l in open(sys.argv[1]).read().split()[1:]]
w=len(rows)//10
print("RSS KiB: after warm-up %d, end %d, max %d, min after warm-up %d" % (rows[w][1], rows[-1][1], max(r for _,r in rows), min(r for _,r in rows[w:])))
PY
