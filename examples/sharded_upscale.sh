#!/usr/bin/env bash
# Split one upscaling batch between SHARDS processes started side by side (here with xargs -P; on a
# cluster each shard is a SLURM array task or a Kubernetes pod: see README "Scaling out"). Every
# process is given the same inputs and `--shard K/N`, so together they do each image exactly once with
# no coordination; `--skip-existing` lets a killed shard be re-run to finish only what it missed.
# Runs as it is from the repository root against ../shared/data/sr/Set5.
#   SRC=~/photos SHARDS=8 bash examples/sharded_upscale.sh
set -euo pipefail
SHARED=${SHARED:-../shared}
SRC=${SRC:-$SHARED/data/sr/Set5}
OUT=${OUT:-out/sharded_upscale}
SHARDS=${SHARDS:-3}
SCALE=${SCALE:-2}
mkdir -p "$OUT"

# One JSON-lines log per shard; exit 5 (some inputs failed) still lets the other shards finish.
seq 0 $((SHARDS - 1)) | xargs -P "$SHARDS" -I{} sh -c '
    visiontk -q sr upscale "$1" --scale "$2" --output-dir "$3" --shard "{}/$4" \
        --skip-existing --continue-on-error --json > "$3/shard-{}.jsonl" || [ $? -eq 5 ]' \
    sh "$SRC" "$SCALE" "$OUT" "$SHARDS"

# Each input appears in exactly one shard's log.
cat "$OUT"/shard-*.jsonl | jq -s '{upscaled: map(select(.ok)) | length,
    failed: map(select(.ok | not)) | length, inputs_done_twice: (group_by(.input) | map(select(length > 1)) | length)}'
