#!/usr/bin/env bash
# The GPU check: runs recur's CUDA conformance suite at fp32, tf32 and bf16, a short
# tinyshakespeare training run on the GPU beside the same run on the CPU, a determinism and
# resume check on the GPU, and the bench beside
# PyTorch's nn.LSTM, with fixed step counts, and writes a report into the folder named by the
# first argument. make gpu-check copies this script, the test binaries, the tools and the data
# into bin/, which is all a machine with an NVIDIA GPU and no Go toolchain needs.
#   bin/gpu-check.sh OUTDIR
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: gpu-check.sh OUTDIR}"
mkdir -p "$out"
report="$out/report.md"
status=0

log() { printf '%s\n' "$*" | tee -a "$report"; }
section() { log ""; log "## $*"; log ""; }
# run NAME TIMEOUT CMD...: runs a step with a time limit, keeps its output in OUTDIR/NAME.log
# and records pass or fail in the report.
run() {
	local name="$1" limit="$2"
	shift 2
	local start=$SECONDS
	if timeout "$limit" "$@" >"$out/$name.log" 2>&1; then
		log "- $name: passed in $((SECONDS - start)) s"
	else
		log "- $name: FAILED (exit $?) after $((SECONDS - start)) s, see $name.log"
		status=1
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
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi not found"; } | tee -a "$report"
"$here/recur" device --device cuda 2>&1 | tee -a "$report"

section "Conformance on CUDA (fp32, tf32, bf16)"
# RECUR_REQUIRE_CUDA turns a missing GPU, driver or cuBLAS into a failure instead of a skip.
export RECUR_REQUIRE_CUDA=1
run "conformance" 180 "$here/enginetest.test" -test.run 'TestCUDA' -test.v -test.count=1
grep -E '^(=== RUN|--- |\s+--- )|largest share|share of' "$out/conformance.log" | head -80 >>"$report"
run "engine-cuda" 60 "$here/engine.test" -test.run 'CUDA|Open' -test.v -test.count=1
run "cuda-binding" 60 "$here/cuda.test" -test.v -test.count=1
# The PyTorch fixtures sit in $here/testdata, where the lstm test binary looks for them.
run "torch-parity-cuda" 60 bash -c "cd '$here' && ./lstm.test -test.run 'TestTorchParity/.*/cuda' -test.v -test.count=1"
# Classifier, tagger, seq2seq and caption models: loss and gradients on CUDA against the CPU.
run "tasks-cuda" 60 "$here/tasks.test" -test.run 'TestCUDAMatchesCPU' -test.v -test.count=1

section "tinyshakespeare, 200 steps, CPU and GPU"
train=(train --data "$here/tinyshakespeare.txt" --layers 2 --hidden 256 --embed 64 --seq 64
	--batch 32 --steps 200 --eval-every 100 --log-every 20 --seed 1)
run "train-cuda" 120 "$here/recur" "${train[@]}" --device cuda --out "$out/ck-cuda" --metrics "$out/train-cuda.jsonl"
run "train-cpu" 240 "$here/recur" "${train[@]}" --device cpu --out "$out/ck-cpu" --metrics "$out/train-cpu.jsonl"
run "compare-curves" 10 python3 "$here/compare_curves.py" --max-diff 0.05 "$out/train-cpu.jsonl" "$out/train-cuda.jsonl"
cat "$out/compare-curves.log" >>"$report"
rm -rf "$out/ck-cuda" "$out/ck-cpu"

section "Determinism on CUDA: two runs, and a run resumed halfway, give the same weights"
# Dropout is on, so the masks must match too. cmp compares the weights byte for byte.
det=(train --data "$here/tinyshakespeare.txt" --layers 2 --hidden 128 --embed 32 --seq 32
	--batch 16 --dropout 0.2 --eval-every 1000 --log-every 20 --seed 3 --device cuda)
run "det-run-a" 60 "$here/recur" "${det[@]}" --steps 60 --out "$out/det-a"
run "det-run-b" 60 "$here/recur" "${det[@]}" --steps 60 --out "$out/det-b"
run "det-half" 60 "$here/recur" "${det[@]}" --steps 30 --out "$out/det-c"
run "det-resume" 60 "$here/recur" train --resume "$out/det-c" --steps 60 --device cuda
run "det-same-runs" 10 cmp "$out/det-a/model.safetensors" "$out/det-b/model.safetensors"
run "det-same-resumed" 10 cmp "$out/det-a/model.safetensors" "$out/det-c/model.safetensors"
rm -rf "$out/det-a" "$out/det-b" "$out/det-c"

section "Bench beside PyTorch"
# bench runs recur and PyTorch's nn.LSTM one after the other on each standard shape, in this
# run, and prints the ratio; PyTorch is skipped with a message where it lacks CUDA.
for precision in fp32 tf32 bf16; do
	run "bench-$precision" 150 "$here/bench" --standard --backends cuda --precision "$precision" \
		--steps 20 --warmup 3 --compare pytorch --torch-script "$here/torch_bench.py" \
		--compare-timeout 60s --json "$out/bench-$precision.json"
	cat "$out/bench-$precision.log" >>"$report"
done

section "Result"
if [ "$status" -eq 0 ]; then log "every step passed"; else log "some steps FAILED"; fi
exit "$status"
