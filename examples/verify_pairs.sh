#!/usr/bin/env bash
# Verify a CSV of labelled image pairs (file_x,file_y,same) and print the accuracy.
# Runs as it is from the repository root against ../shared/data/faces/pairs.csv (153 pairs).
#   PAIRS=my_pairs.csv bash examples/verify_pairs.sh
set -euo pipefail
SHARED=${SHARED:-../shared}
OUT=${OUT:-out/verify_pairs}
PAIRS=${PAIRS:-$SHARED/data/faces/pairs.csv}
LIMIT=${LIMIT:-0}                 # >0: only the first LIMIT pairs (a quick look)
mkdir -p "$OUT"

pairs="$PAIRS"
if [ "$LIMIT" -gt 0 ]; then
    pairs="$OUT/pairs_head.csv"
    head -n "$((LIMIT + 1))" "$PAIRS" > "$pairs"
fi
visiontk -q face verify --pairs "$pairs" --root "$(dirname "$PAIRS")" --json > "$OUT/verified.jsonl"

jq -s '{pairs: length,
        correct: map(select(.same == .expected)) | length,
        accuracy: ((map(select(.same == .expected)) | length) / length)}' "$OUT/verified.jsonl"
