#!/usr/bin/env bash
# Regenerates the files that docs/VIZ.md shows, into OUTDIR (docs/viz for the docs):
#   find.json           recur viz --find --json over the first 30,000 characters of server.go
#   line-position.png   the page of the unit with the largest |r| for line_position, as headless
#   bracket-depth.png   Chromium draws it, and the same for bracket_depth
#   gradflow.png        the LSTM's and the RNN's gradient flow on one plot, up to distance 200
#   gradflow.txt        the table that recur viz --grad-flow prints for both
# It trains, with the settings of make demo (1000 steps), a 2-layer LSTM and a 2-layer tanh RNN
# on the Go standard library's net/http sources into WORK (default out/viz-docs), and reuses
# those checkpoints when they exist, so delete WORK to retrain. The screenshots come from the
# test TestVizChromium, which first checks that every character of the text is on the page and
# coloured, so the script needs the Go toolchain and /usr/bin/chromium.
#   scripts/viz_docs.sh OUTDIR [RECUR]
# RECUR is the recur binary (default bin/recur). DEVICE (default auto) is the --device of every
# step. Run it from the repository root.
set -euo pipefail
out="${1:?usage: scripts/viz_docs.sh OUTDIR [RECUR]}"
recur="${2:-bin/recur}"
work="${WORK:-out/viz-docs}"
device="${DEVICE:-auto}"
data="$(go env GOROOT)/src/net/http"
mkdir -p "$out" "$work"

for cell in lstm rnn; do
	if [ -f "$work/$cell/model.safetensors" ]; then
		echo "viz_docs: reusing the checkpoint $work/$cell"
		continue
	fi
	"$recur" train --model "$cell" --data "$data" --filter '*.go' --layers 2 --hidden 256 --embed 64 \
		--seq 64 --batch 32 --steps 1000 --eval-every 200 --log-every 100 --device "$device" \
		--out "$work/$cell"
done

# The first 30,000 bytes of server.go (all ASCII), and a 21-line function from it for the pages.
# They get a .txt suffix because go build ./... would otherwise compile them from out/.
head -c 30000 "$data/server.go" >"$work/server-head.go.txt"
sed -n '/^func (c \*conn) hijackLocked/,/^}/p' "$work/server-head.go.txt" >"$work/hijack.go.txt"
if [ ! -s "$work/hijack.go.txt" ]; then
	echo "viz_docs: func (c *conn) hijackLocked not found in $work/server-head.go.txt" >&2
	exit 1
fi

"$recur" viz --find --json --top 3 --checkpoint "$work/lstm" --text "$work/server-head.go.txt" \
	--device "$device" --out "$work/gallery.html" >"$out/find.json"

for feature in line_position bracket_depth; do
	best="$(jq -r --arg f "$feature" \
		'.features[] | select(.feature == $f) | .units[0] // empty | "\(.layer) \(.state) \(.unit)"' "$out/find.json")"
	if [ -z "$best" ]; then
		echo "viz_docs: $out/find.json lists no unit for $feature" >&2
		exit 1
	fi
	read -r layer state unit <<<"$best"
	page="$work/$feature.html"
	"$recur" viz --checkpoint "$work/lstm" --text "$work/hijack.go.txt" --layer "$layer" --state "$state" \
		--unit "$unit" --device "$device" --out "$page"
	png="$(cd "$out" && pwd)/${feature//_/-}.png"
	rm -f "$png"
	log="$work/chromium-$feature.log"
	if ! RECUR_VIZ_PAGE="$(realpath "$page")" RECUR_VIZ_PAGE_TEXT="$(realpath "$work/hijack.go.txt")" \
		RECUR_VIZ_SCREENSHOT="$png" go test -count=1 -run '^TestVizChromium$' -v ./cmd/recur >"$log" 2>&1; then
		cat "$log" >&2
		echo "viz_docs: TestVizChromium failed on $page" >&2
		exit 1
	fi
	if [ ! -s "$png" ]; then
		cat "$log" >&2
		echo "viz_docs: no screenshot at $png: TestVizChromium skipped (is /usr/bin/chromium installed?)" >&2
		exit 1
	fi
	echo "viz_docs: wrote $png (layer $layer $state[$unit])"
done

"$recur" viz --grad-flow --checkpoint "$work/lstm" --compare "$work/rnn" --text "$work/server-head.go.txt" \
	--max-distance 200 --samples 20 --device "$device" --out "$out/gradflow.png" | tee "$out/gradflow.txt"
