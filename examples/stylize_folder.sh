#!/usr/bin/env bash
# Paint every photo of a folder in the style of one painting, then lay the results out in one
# contact sheet. Runs as it is from the repository root against ../shared/data (VGG16 weights from
# ../shared/weights). Re-running it skips the photos already done.
#   SIZE=512 bash examples/stylize_folder.sh
set -euo pipefail
SHARED=${SHARED:-../shared}
OUT=${OUT:-out/stylize_folder}
SIZE=${SIZE:-384}
ITERATIONS=${ITERATIONS:-}        # empty: visiontk's defaults
export VISIONTK_MODELS=${VISIONTK_MODELS:-$SHARED/weights}
mkdir -p "$OUT"

extra=()
[ -n "$ITERATIONS" ] && extra+=(--iterations "$ITERATIONS")
status=0
visiontk -q stylize "$SHARED/data/content" -s "$SHARED/data/style/starry_night.jpg" --backbone vgg16 \
    --size "$SIZE" "${extra[@]}" --output-dir "$OUT" --skip-existing --continue-on-error --json \
    > "$OUT/results.jsonl" || status=$?
# 5 = some photos failed (each reported on stderr); anything else non-zero is fatal.
[ "$status" -eq 0 ] || [ "$status" -eq 5 ] || exit "$status"

jq -r 'select(.ok) | .output // empty' "$OUT/results.jsonl"
python3 - "$OUT" <<'PY'
import sys
from pathlib import Path
from PIL import Image
from visiontk.imageio import write_image

out = Path(sys.argv[1])
tiles = [Image.open(p).convert("RGB") for p in sorted(out.glob("*_stylized.*"))]
height = 256
tiles = [t.resize((round(t.width * height / t.height), height)) for t in tiles]
sheet = Image.new("RGB", (sum(t.width for t in tiles), height), "white")
x = 0
for tile in tiles:
    sheet.paste(tile, (x, 0))
    x += tile.width
write_image(out / "contact_sheet.jpg", sheet, overwrite=True)
print(out / "contact_sheet.jpg")
PY
