#!/usr/bin/env bash
# The GPU check. It runs recur's CUDA conformance suite at fp32, tf32 and bf16, and the CUDA
# training tests (determinism, resume, CUDA graphs and the wavefront against the plain path).
# It trains briefly on tinyshakespeare on the GPU and on the CPU and compares the loss curves,
# runs recur viz on both devices with one checkpoint, and checks that recur's CUDA runs and
# resumes give the same weights. Last, it runs the bench beside PyTorch's nn.LSTM and with
# each CUDA option off and on. Step counts are fixed, and the step time limits add up to
# about 400 s. GPU_CHECK_DEADLINE (seconds, default 420) caps the whole run, and a step that
# would start after it is reported as not run. The report goes into the folder named by the
# first argument. make gpu-check copies this script, the test binaries, the tools and the
# data into bin/, which is all a machine with an NVIDIA GPU and no Go toolchain needs.
#   bin/gpu-check.sh OUTDIR
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: gpu-check.sh OUTDIR}"
deadline="${GPU_CHECK_DEADLINE:-420}"
mkdir -p "$out"
report="$out/report.md"
status=0
SECONDS=0

log() { printf '%s\n' "$*" | tee -a "$report"; }
section() { log ""; log "## $*"; log ""; }
# append_log NAME: adds the output of step NAME to the report, when the step ran.
append_log() { [ -f "$out/$1.log" ] && cat "$out/$1.log" >>"$report"; }
# run NAME LIMIT CMD...: runs a step with a time limit of LIMIT seconds, cut to what is left
# before the deadline, keeps its output in OUTDIR/NAME.log and records the outcome in the
# report. A step that cannot start before the deadline fails the check as not run.
run() {
	local name="$1" limit="$2"
	shift 2
	local left=$((deadline - SECONDS))
	if [ "$left" -le 0 ]; then
		log "- $name: NOT RUN: the check's deadline of $deadline s has passed"
		status=1
		return 1
	fi
	[ "$limit" -gt "$left" ] && limit="$left"
	local start=$SECONDS
	if timeout "$limit" "$@" >"$out/$name.log" 2>&1; then
		log "- $name: passed in $((SECONDS - start)) s"
	else
		local code=$?
		if [ "$code" -eq 124 ]; then
			log "- $name: FAILED: timed out after $limit s, see $name.log"
		else
			log "- $name: FAILED (exit $code) after $((SECONDS - start)) s, see $name.log"
		fi
		status=1
		return 1
	fi
}

: >"$report"
log "# recur GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"

# Where cuBLAS is not on the loader's path, a pip-installed one (the nvidia-cublas wheel that
# PyTorch brings) is used through RECUR_CUBLAS.
if [ -z "${RECUR_CUBLAS:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so'; then
	found="$(find / -xdev \( -name 'libcublas.so.1[1-3]' -o -name 'libcublas.so' \) 2>/dev/null | head -n 1)"
	if [ -n "$found" ]; then
		export RECUR_CUBLAS="$found"
		log "cuBLAS is not on the loader's path; using RECUR_CUBLAS=$found"
	fi
fi
section "Machine"
{ timeout 5 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi not found or timed out"; } | tee -a "$report"
run "device" 8 "$here/recur" device --device cuda
append_log "device"

section "Conformance on CUDA (fp32, tf32, bf16)"
# RECUR_REQUIRE_CUDA turns a missing GPU, driver or cuBLAS into a failure instead of a skip.
export RECUR_REQUIRE_CUDA=1
run "conformance" 30 "$here/enginetest.test" -test.run 'TestCUDA' -test.v -test.count=1
grep -E '^(=== RUN|--- |\s+--- )|largest share|share of|driver /' "$out/conformance.log" 2>/dev/null | head -80 >>"$report"
run "engine-cuda" 12 "$here/engine.test" -test.run 'CUDA|Open' -test.v -test.count=1
run "cuda-binding" 8 "$here/cuda.test" -test.v -test.count=1
# The PyTorch fixtures sit in $here/testdata, where the lstm test binary looks for them.
run "torch-parity-cuda" 12 bash -c "cd '$here' && ./lstm.test -test.run 'TestTorchParity/.*/cuda' -test.v -test.count=1"
# Two identical runs, a resumed run, CUDA graphs and the wavefront against the plain path.
run "training-cuda" 15 "$here/lstm.test" -test.run '^TestCUDA' -test.v -test.count=1
grep -E '^(--- |\s+--- )|largest parameter difference' "$out/training-cuda.log" 2>/dev/null | head -40 >>"$report"
# Classifier, tagger, seq2seq and caption models: loss and gradients on CUDA against the CPU.
run "tasks-cuda" 12 "$here/tasks.test" -test.run 'TestCUDAMatchesCPU' -test.v -test.count=1

section "tinyshakespeare, 120 steps, CPU and GPU"
train=(train --data "$here/tinyshakespeare.txt" --layers 2 --hidden 256 --embed 64 --seq 64
	--batch 32 --steps 120 --eval-every 60 --log-every 20 --seed 1)
run "train-cuda" 25 "$here/recur" "${train[@]}" --device cuda --out "$out/ck-cuda" --metrics "$out/train-cuda.jsonl"
run "train-cpu" 40 "$here/recur" "${train[@]}" --device cpu --out "$out/ck-cpu" --metrics "$out/train-cpu.jsonl"
run "compare-curves" 5 python3 "$here/compare_curves.py" --max-diff 0.05 "$out/train-cpu.jsonl" "$out/train-cuda.jsonl"
append_log "compare-curves"

section "recur viz: CUDA against the CPU on one checkpoint"
# The JSON goes to a file inside bash -c because run sends a step's stdout to its log.
head -c 5000 "$here/tinyshakespeare.txt" >"$out/viz-text.txt"
for d in cpu cuda; do
	run "viz-find-$d" 20 bash -c "'$here/recur' viz --find --json --out '' --device $d --checkpoint '$out/ck-cpu' --text '$out/viz-text.txt' >'$out/viz-find-$d.json'"
	run "viz-gradflow-$d" 20 bash -c "'$here/recur' viz --grad-flow --json --out '' --device $d --checkpoint '$out/ck-cpu' --text '$out/viz-text.txt' --max-distance 100 --samples 20 >'$out/viz-gradflow-$d.json'"
done
run "viz-page-cuda" 10 "$here/recur" viz --device cuda --checkpoint "$out/ck-cpu" --text "$out/viz-text.txt" --layer 1 --state c --unit 0,1 --out "$out/viz-cuda.html"
run "viz-compare-find" 5 python3 "$here/compare_viz_json.py" "$out/viz-find-cpu.json" "$out/viz-find-cuda.json"
append_log "viz-compare-find"
run "viz-compare-gradflow" 5 python3 "$here/compare_viz_json.py" "$out/viz-gradflow-cpu.json" "$out/viz-gradflow-cuda.json"
append_log "viz-compare-gradflow"
rm -rf "$out/ck-cuda" "$out/ck-cpu"

section "Determinism on CUDA: two runs, and a run resumed halfway, give the same weights"
# Dropout is on, so the masks must match too. cmp compares the weights byte for byte.
det=(train --data "$here/tinyshakespeare.txt" --layers 2 --hidden 128 --embed 32 --seq 32
	--batch 16 --dropout 0.2 --eval-every 1000 --log-every 10 --seed 3 --device cuda)
run "det-run-a" 8 "$here/recur" "${det[@]}" --steps 30 --out "$out/det-a"
run "det-run-b" 8 "$here/recur" "${det[@]}" --steps 30 --out "$out/det-b"
run "det-half" 8 "$here/recur" "${det[@]}" --steps 15 --out "$out/det-c"
run "det-resume" 8 "$here/recur" train --resume "$out/det-c" --steps 30 --device cuda
run "det-same-runs" 1 cmp "$out/det-a/model.safetensors" "$out/det-b/model.safetensors"
run "det-same-resumed" 1 cmp "$out/det-a/model.safetensors" "$out/det-c/model.safetensors"
rm -rf "$out/det-a" "$out/det-b" "$out/det-c"

section "Bench beside PyTorch, and with each CUDA option off and on"
# bench runs recur and PyTorch's nn.LSTM one after the other on each shape, in this run, and
# prints the ratio; PyTorch is skipped with a message where it lacks CUDA. The shapes include
# small batches, where launch overhead, which graphs and the wavefront target, matters most.
shapes="128x1x32x64,512x2x8x100,512x2x64x100"
bench=("$here/bench" --shapes "$shapes" --backends cuda --steps 10 --warmup 3)
run "bench-fp32" 50 "${bench[@]}" --precision fp32 --compare pytorch --torch-script "$here/torch_bench.py" \
	--compare-timeout 20s --json "$out/bench-fp32.json"
append_log "bench-fp32"
for option in cuda-graph wavefront; do
	if run "bench-fp32-$option" 12 "${bench[@]}" --precision fp32 "--$option" --json "$out/bench-fp32-$option.json"; then
		log ""
		log "fp32 with --$option against without, in this run:"
		log ""
		python3 "$here/bench_ratio.py" --label "$option" "$out/bench-fp32.json" "$out/bench-fp32-$option.json" 2>&1 | tee -a "$report"
	fi
done
for precision in tf32 bf16; do
	run "bench-$precision" 10 "${bench[@]}" --precision "$precision" --json "$out/bench-$precision.json"
	append_log "bench-$precision"
done

section "Result"
if [ "$status" -eq 0 ]; then log "every step passed"; else log "some steps FAILED or did not run"; fi
log "total time: $SECONDS s (deadline $deadline s)"
exit "$status"
