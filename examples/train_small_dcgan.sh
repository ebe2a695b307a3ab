#!/usr/bin/env bash
# Train a small DCGAN on a folder of photos and render its sample sheet and loss curve.
# Runs as it is from the repository root against ../shared/data/sr-train/bsds500/train (32x32 colour).
# Training resumes if the run folder exists (Ctrl-C saves a checkpoint): the same command continues it.
#   EPOCHS=50 bash examples/train_small_dcgan.sh
set -euo pipefail
SHARED=${SHARED:-../shared}
DATA=${DATA:-$SHARED/data/sr-train/bsds500/train}
OUT=${OUT:-out/train_small_dcgan}
EPOCHS=${EPOCHS:-5}
LIMIT=${LIMIT:-0}                 # >0: train on the first LIMIT images only
mkdir -p "$OUT"

run="$OUT/run"
args=(--image-size 32 --epochs "$EPOCHS" --batch-size 32)
[ "$LIMIT" -gt 0 ] && args+=(--limit "$LIMIT")
# The same command on an existing run folder resumes it (a larger EPOCHS extends it).
visiontk -q gan train "$DATA" --out "$run" "${args[@]}" --json > "$OUT/train.json"
jq -c . "$OUT/train.json"

visiontk -q gan generate --model "$run" -n 64 --seed 1 --grid "$OUT/samples.png" --overwrite --json \
    | jq -r '.grid // .output // .'
ls "$run"/*.png
