#!/bin/sh
# Generates the data sets of the sequence tasks, trains one model per task on the CPU and
# scores it on the held-out test split. Usage: scripts/tasks_check.sh OUTDIR [RECUR]
#
# OUTDIR receives the data, the checkpoints and one report per task (*.txt) with the test
# metrics, the confusion matrix where there is one, and examples of wrong and right outputs.
# It takes about 15 minutes on 2 cores.
set -eu

out=${1:?usage: scripts/tasks_check.sh OUTDIR [RECUR]}
recur=${2:-bin/recur}
device=${DEVICE:-cpu}
mkdir -p "$out"
data="$out/data"

for task in classify tag dates scenes; do
	if [ ! -e "$data/$task/test.tsv" ] && [ ! -e "$data/$task/test.captions.tsv" ]; then
		"$recur" generate "$task" --out "$data/$task" > /dev/null
	fi
done

# run NAME TASK TRAIN-FLAGS... -- PREDICT-FLAGS...: trains checkpoint $out/NAME, then scores
# it and writes $out/NAME.txt.
run() {
	name=$1 task=$2
	shift 2
	train=""
	while [ "$1" != "--" ]; do
		train="$train $1"
		shift
	done
	shift
	rm -rf "${out:?}/ck-$name"
	echo "== $name: recur $task train$train"
	# shellcheck disable=SC2086 # the flags are split on purpose
	"$recur" "$task" train $train --device "$device" --out "$out/ck-$name" --log-every 1000 \
		> "$out/$name.train.log"
	tail -n 1 "$out/$name.train.log"
	{
		echo "recur $task train$train"
		grep validation "$out/$name.train.log" || true
		echo
		echo "recur $task predict $*"
		"$recur" "$task" predict --checkpoint "$out/ck-$name" --device "$device" --out "$out/$name.predictions.tsv" --overwrite "$@"
	} > "$out/$name.txt" 2>&1
	grep -E "accuracy|exact match" "$out/$name.txt" | head -n 3
}

d=$data
run classify classify --data $d/classify/train.tsv --val $d/classify/val.tsv --forget-bias 4 --steps 800 --eval-every 400 \
	-- --data $d/classify/test.tsv
run classify-fb1 classify --data $d/classify/train.tsv --val $d/classify/val.tsv --forget-bias 1 --steps 800 --eval-every 400 \
	-- --data $d/classify/test.tsv
run classify-mean classify --data $d/classify/train.tsv --val $d/classify/val.tsv --pool mean --steps 800 --eval-every 400 \
	-- --data $d/classify/test.tsv
run classify-rnn classify --data $d/classify/train.tsv --val $d/classify/val.tsv --model rnn --steps 800 --eval-every 400 \
	-- --data $d/classify/test.tsv
run tag tag --data $d/tag/train.tsv --val $d/tag/val.tsv --steps 600 --eval-every 300 \
	-- --data $d/tag/test.tsv
run dates seq2seq --data $d/dates/train.tsv --val $d/dates/val.tsv --hidden 256 --steps 1500 --eval-every 500 \
	-- --data $d/dates/test.tsv --beam 4
run shapes classify --data $d/scenes/train.shapes.tsv --images $d/scenes/train.pixels.safetensors \
	--val $d/scenes/val.shapes.tsv --val-images $d/scenes/val.pixels.safetensors --steps 1500 --eval-every 500 \
	-- --data $d/scenes/test.shapes.tsv --images $d/scenes/test.pixels.safetensors
"$recur" classify predict --checkpoint "$out/ck-shapes" --device "$device" --data $d/scenes/test-unseen.shapes.tsv \
	--images $d/scenes/test.pixels.safetensors --out "$out/shapes-unseen.predictions.tsv" --overwrite > "$out/shapes-unseen.txt" 2>&1
grep accuracy "$out/shapes-unseen.txt" | head -n 1
run caption caption --data $d/scenes/train.captions.tsv --images $d/scenes/train.features.safetensors \
	--val $d/scenes/val.captions.tsv --val-images $d/scenes/val.features.safetensors \
	--hidden ${CAPTION_HIDDEN:-256} --word-dropout 0.8 --steps ${CAPTION_STEPS:-16000} --eval-every 4000 \
	-- --data $d/scenes/test.captions.tsv --images $d/scenes/test.features.npy --show 8
"$recur" caption predict --checkpoint "$out/ck-caption" --device "$device" --data $d/scenes/test-unseen.captions.tsv \
	--images $d/scenes/test.features.npy --out "$out/caption-unseen.predictions.tsv" --overwrite --show 8 > "$out/caption-unseen.txt" 2>&1
grep "exact match" "$out/caption-unseen.txt" | head -n 1
