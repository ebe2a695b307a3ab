#!/usr/bin/env bash
# Upscale every image of a folder x4 with EDSR, skipping the ones already done, so an interrupted
# night's batch can simply be started again. Prints how many were upscaled and how many skipped.
# Runs as it is from the repository root against ../shared/data/sr/Set5.
#   SRC=~/photos SCALE=2 bash examples/upscale_folder.sh
set -euo pipefail
SHARED=${SHARED:-../shared}
SRC=${SRC:-$SHARED/data/sr/Set5}
OUT=${OUT:-out/upscale_folder}
SCALE=${SCALE:-4}
mkdir -p "$OUT"

status=0
visiontk -q sr upscale "$SRC" --scale "$SCALE" --output-dir "$OUT" --skip-existing --continue-on-error \
    --json > "$OUT/last_run.jsonl" || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 5 ] || exit "$status"

# Inputs skipped as already done print nothing; upscaled and failed ones print a JSON line each.
jq -s '{upscaled: map(select(.ok)) | length, failed: map(select(.ok | not)) | length}' "$OUT/last_run.jsonl"
echo "outputs now in $OUT: $(find "$OUT" -name "*_x$SCALE.*" | wc -l)"
