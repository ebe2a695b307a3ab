#!/usr/bin/env bash
# Upscale every video clip of a folder with EDSR, frame by frame (timing, rotation and sound kept),
# skipping the clips already done, so an interrupted batch can simply be started again. Prints how
# many clips were upscaled and failed, and how many frames were written.
#   SRC=~/clips SCALE=2 bash examples/video_folder.sh
# Without SRC it first makes two short demo clips (a slow pan over two shared photos) in $OUT/clips.
set -euo pipefail
SHARED=${SHARED:-../shared}
OUT=${OUT:-out/video_folder}
SCALE=${SCALE:-2}
FRAMES=${FRAMES:-12}   # length of the demo clips
mkdir -p "$OUT"

if [ -z "${SRC:-}" ]; then
    SRC="$OUT/clips"
    mkdir -p "$SRC"
    python - "$SHARED/data/content" "$SRC" "$FRAMES" <<'PY'
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from visiontk.style.temporal import pan_zoom_frames
from visiontk.videoio import write_video

content, folder, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for name in ("tubingen.jpg", "chelsea.png"):
    clip = folder / f"{Path(name).stem}.mp4"
    if not clip.exists():
        photo = np.asarray(Image.open(content / name).convert("RGB"))
        write_video(clip, pan_zoom_frames(photo, count, (160, 120)), fps=12)
PY
fi

# Clips are picked by extension; `-` hands their names to visiontk on stdin.
status=0
find "$SRC" -maxdepth 1 -type f \( -iname '*.mp4' -o -iname '*.mov' -o -iname '*.mkv' -o -iname '*.webm' \
        -o -iname '*.avi' \) | sort |
    visiontk -q sr upscale - --scale "$SCALE" --output-dir "$OUT/upscaled" --skip-existing \
        --continue-on-error --json > "$OUT/last_run.jsonl" || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 5 ] || exit "$status"

# Clips skipped as already done print nothing; upscaled and failed ones print a JSON line each.
jq -s '{upscaled: map(select(.ok)) | length, failed: map(select(.ok | not)) | length,
        frames: (map(select(.ok) | .frames) | add // 0)}' "$OUT/last_run.jsonl"
echo "clips now in $OUT/upscaled: $(find "$OUT/upscaled" -type f | wc -l)"
