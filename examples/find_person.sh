#!/usr/bin/env bash
# Find every photo of one person in a folder: enroll a few known photos into a gallery, identify
# every face in the folder, and list the files where that person appears (jq over the JSON lines).
# Runs as it is from the repository root against ../shared/data/faces.
#   PERSON=biden bash examples/find_person.sh
set -euo pipefail
SHARED=${SHARED:-../shared}
OUT=${OUT:-out/find_person}
PERSON=${PERSON:-obama}
FACES="$SHARED/data/faces"
mkdir -p "$OUT"
gallery="$OUT/gallery.npz"
rm -f "$gallery"

# Two known photos per person make the gallery.
for person in obama biden; do
    visiontk -q face enroll --gallery "$gallery" "$person" "$FACES/${person}_1.jpg" "$FACES/${person}_2.jpg" \
        --json > /dev/null
done

status=0
visiontk -q face identify --gallery "$gallery" "$FACES" --continue-on-error --json \
    > "$OUT/identified.jsonl" || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 5 ] || exit "$status"

echo "photos of $PERSON:"
jq -r --arg who "$PERSON" 'select(.ok and any(.faces[]; .name == $who)) | .input' "$OUT/identified.jsonl" \
    | tee "$OUT/$PERSON.txt"
