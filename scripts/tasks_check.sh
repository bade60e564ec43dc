#!/bin/sh
# Generates the data sets of the sequence tasks, trains one model per run below on the CPU,
# scores it on the held-out test split and checks the score against the run's bar.
# Usage: scripts/tasks_check.sh OUTDIR [RECUR]
#
# OUTDIR receives the data, the checkpoints, one report per run (NAME.txt) with the test
# metrics, the confusion matrix where there is one and examples of wrong and right outputs,
# and summary.txt, a table of every score and its bar. The script exits with status 1 when a
# score is below its bar or missing. It takes 15 to 20 minutes on 2 cores.
#
# Environment: DEVICE (default cpu) selects the backend; ONLY, a space-separated list of run
# names such as "classify classify-gru", trains those runs alone; CAPTION_HIDDEN and
# CAPTION_STEPS override the captioner's width and steps.
set -eu

out=${1:?usage: scripts/tasks_check.sh OUTDIR [RECUR]}
recur=${2:-bin/recur}
device=${DEVICE:-cpu}
only=${ONLY:-}
mkdir -p "$out"
data="$out/data"
summary="$out/summary.txt"
: > "$summary.tmp"

for task in classify tag dates scenes; do
	if [ ! -e "$data/$task/test.tsv" ] && [ ! -e "$data/$task/test.captions.tsv" ]; then
		"$recur" generate "$task" --out "$data/$task" > /dev/null
	fi
done

# selected NAME: whether ONLY is empty or names NAME.
selected() {
	case " $only " in
	"  " | *" $1 "*) return 0 ;;
	*) return 1 ;;
	esac
}

# check NAME REPORT BAR: reads the test score from REPORT, the first line of the form
# "FILE: accuracy|token accuracy|exact match P% of N" outside the validation log, and adds a
# row to the summary. BAR is the minimum passing percentage, or "-" for a run shown for
# contrast that has no bar.
check() {
	name=$1 report=$2 bar=$3
	line=$(grep -v "validation:" "$report" 2> /dev/null |
		sed -nE 's/^.*: (token accuracy|accuracy|exact match) ([0-9.]+)% of .*$/\1 \2/p' | head -n 1)
	metric=${line% *} score=${line##* }
	if [ -z "$line" ]; then
		metric=- score=- verdict=MISSING
	elif [ "$bar" = - ]; then
		verdict=-
	elif awk -v s="$score" -v b="$bar" 'BEGIN { exit !(s + 0 >= b + 0) }'; then
		verdict=pass
	else
		verdict=FAIL
	fi
	printf '%-16s %-15s %8s %6s  %s\n' "$name" "$metric" "$score" "$bar" "$verdict" >> "$summary.tmp"
}

# run NAME BAR TASK TRAIN-FLAGS... -- PREDICT-FLAGS...: trains checkpoint $out/ck-NAME, scores
# it into $out/NAME.txt and checks the score against BAR.
run() {
	name=$1 bar=$2 task=$3
	shift 3
	train=""
	while [ "$1" != "--" ]; do
		train="$train $1"
		shift
	done
	shift
	selected "$name" || return 0
	rm -rf "${out:?}/ck-$name"
	echo "== $name: recur $task train$train"
	# shellcheck disable=SC2086 # the flags are split on purpose
	if ! "$recur" "$task" train $train --device "$device" --out "$out/ck-$name" --log-every 1000 \
		> "$out/$name.train.log"; then
		echo "$name: training failed, see $out/$name.train.log" >&2
	fi
	tail -n 1 "$out/$name.train.log"
	{
		echo "recur $task train$train"
		grep validation "$out/$name.train.log" || true
		echo
		echo "recur $task predict $*"
		"$recur" "$task" predict --checkpoint "$out/ck-$name" --device "$device" \
			--out "$out/$name.predictions.tsv" --overwrite "$@" || true
	} > "$out/$name.txt" 2>&1
	check "$name" "$out/$name.txt" "$bar"
}

# predict_unseen NAME BAR TASK PREDICT-FLAGS...: scores the checkpoint of run NAME again into
# $out/NAME-unseen.txt, with flags that name the held-out combinations alone, and checks the
# score against BAR.
predict_unseen() {
	name=$1 bar=$2 task=$3
	shift 3
	selected "$name" || return 0
	"$recur" "$task" predict --checkpoint "$out/ck-$name" --device "$device" \
		--out "$out/$name-unseen.predictions.tsv" --overwrite "$@" > "$out/$name-unseen.txt" 2>&1 || true
	check "$name-unseen" "$out/$name-unseen.txt" "$bar"
}

# The bars: 98% accuracy for classification (text and images) and tagging, 95% exact match
# for dates and 90% exact match for captions, on the test split, and 98% for shapes on its
# held-out colour–shape combinations alone. Captions of the held-out combinations alone are
# reported without a bar because they score about 83%, short of 90% (docs/TASKS.md). The other
# runs with the bar "-" show models that fail.
d=$data
run classify 98 classify --data $d/classify/train.tsv --val $d/classify/val.tsv --forget-bias 4 --steps 800 --eval-every 400 \
	-- --data $d/classify/test.tsv
run classify-fb1 - classify --data $d/classify/train.tsv --val $d/classify/val.tsv --forget-bias 1 --steps 800 --eval-every 400 \
	-- --data $d/classify/test.tsv
run classify-mean 98 classify --data $d/classify/train.tsv --val $d/classify/val.tsv --pool mean --steps 800 --eval-every 400 \
	-- --data $d/classify/test.tsv
run classify-rnn - classify --data $d/classify/train.tsv --val $d/classify/val.tsv --model rnn --steps 800 --eval-every 400 \
	-- --data $d/classify/test.tsv
run classify-gru - classify --data $d/classify/train.tsv --val $d/classify/val.tsv --model gru --steps 800 --eval-every 400 \
	-- --data $d/classify/test.tsv
run tag 98 tag --data $d/tag/train.tsv --val $d/tag/val.tsv --steps 600 --eval-every 300 \
	-- --data $d/tag/test.tsv
run dates 95 seq2seq --data $d/dates/train.tsv --val $d/dates/val.tsv --hidden 256 --steps 1500 --eval-every 500 \
	-- --data $d/dates/test.tsv --beam 4
run shapes 98 classify --data $d/scenes/train.shapes.tsv --images $d/scenes/train.pixels.safetensors \
	--val $d/scenes/val.shapes.tsv --val-images $d/scenes/val.pixels.safetensors --steps 1500 --eval-every 500 \
	-- --data $d/scenes/test.shapes.tsv --images $d/scenes/test.pixels.safetensors
predict_unseen shapes 98 classify --data $d/scenes/test-unseen.shapes.tsv --images $d/scenes/test.pixels.safetensors
run caption 90 caption --data $d/scenes/train.captions.tsv --images $d/scenes/train.features.safetensors \
	--val $d/scenes/val.captions.tsv --val-images $d/scenes/val.features.safetensors \
	--hidden ${CAPTION_HIDDEN:-256} --word-dropout 0.8 --steps ${CAPTION_STEPS:-16000} --eval-every 4000 \
	-- --data $d/scenes/test.captions.tsv --images $d/scenes/test.features.npy --show 8
predict_unseen caption - caption --data $d/scenes/test-unseen.captions.tsv --images $d/scenes/test.features.npy --show 8

{
	printf '%-16s %-15s %8s %6s  %s\n' run metric score bar verdict
	cat "$summary.tmp"
} > "$summary"
rm -f "$summary.tmp"
echo
cat "$summary"
if grep -qE ' (FAIL|MISSING)$' "$summary"; then
	echo "tasks-check: a score is below its bar or missing; see the reports in $out" >&2
	exit 1
fi
