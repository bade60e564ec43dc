# recur's build, test and demo entry points. Every target needs only Go (and gcc for cgo).
GO        ?= go
GOROOT_SRC = $(shell $(GO) env GOROOT)/src
# The demo corpus: the Go standard library's net/http sources, about 2.2 MB and 140 code points,
# and a prime in Go. With DATA set to your own text, FILTER and PRIME default to empty.
ifeq ($(origin DATA), undefined)
DATA      = $(GOROOT_SRC)/net/http
FILTER   ?= *.go
PRIME    ?= func (s *Server) 
endif
DEMO_OUT  ?= out/demo
DEMO_STEPS ?= 1000

.PHONY: build test demo bench bench-gorgonia fuzz fmt vet gpu-check clean tasks-check check-fixtures

build:
	$(GO) build -o bin/recur ./cmd/recur
	$(GO) build -o bin/bench ./cmd/bench

# The whole test suite, with the pure-Go GEMM path checked again in a cgo-free build.
# The committed fatbin is checked against its sources where nvcc is installed.
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	CGO_ENABLED=0 $(GO) test -count=1 ./engine/... ./lstm/... ./tasks/...
	CGO_ENABLED=0 $(GO) build -o /dev/null ./...
	$(MAKE) --no-print-directory check-kernels

# Trains a 2-layer LSTM for a few minutes on Go source, then samples from it.
# Each run starts afresh: it replaces the previous demo's checkpoint and metrics.
demo: build
	@mkdir -p $(dir $(DEMO_OUT))
	rm -rf $(DEMO_OUT) $(DEMO_OUT).metrics.jsonl
	bin/recur train --data '$(DATA)' --filter '$(FILTER)' --layers 2 --hidden 256 --embed 64 \
		--seq 64 --batch 32 --steps $(DEMO_STEPS) --eval-every 200 --log-every 20 \
		--out $(DEMO_OUT) --metrics $(DEMO_OUT).metrics.jsonl
	bin/recur sample --checkpoint $(DEMO_OUT) --prime '$(PRIME)' --length 800 --temperature 0.7

# Runs the standard shapes on the CPU beside PyTorch (python3-torch) in the same run.
bench: build
	bin/bench --standard --compare pytorch

# Generates the task data sets, trains one model per task and scores it on the test split,
# writing reports into TASKS_OUT (docs/TASKS.md shows a run). It takes 15 to 20 minutes on 2 cores.
TASKS_OUT ?= out/tasks
tasks-check: build
	scripts/tasks_check.sh $(TASKS_OUT) bin/recur

# Regenerates the pictures, the unit ranking and the gradient-flow table that docs/VIZ.md shows,
# into VIZ_DOCS_OUT. Trains an LSTM and an RNN with the demo's settings into out/viz-docs first,
# unless they are there (delete them to retrain), and needs /usr/bin/chromium for the screenshots.
VIZ_DOCS_OUT ?= docs/viz
.PHONY: viz-docs
viz-docs: build
	scripts/viz_docs.sh $(VIZ_DOCS_OUT) bin/recur

# The gorgonia comparison is its own module, so recur's binaries do not carry gorgonia.
bench-gorgonia:
	cd cmd/bench/gorgonia && $(GO) build -o ../../../bin/bench-gorgonia .

# Builds everything the GPU check runs into a fresh bin/, which is then the whole check: a machine with
# an NVIDIA GPU and no Go toolchain runs bin/gpu-check.sh OUTDIR. The tinyshakespeare text is
# copied from the shared folder beside the repository.
# The CUDA backend is reached through cgo, so the build needs gcc and sets CGO_ENABLED=1: a
# cgo-free binary would run on the CPU only. bin/ must stay under GPU_CHECK_MAX_BYTES (64 MiB),
# the most that is carried to a GPU machine.
SHARED   ?= ../shared
GPU_LDFLAGS = -ldflags='-s -w'
GPU_GO      = CGO_ENABLED=1 $(GO)
GPU_CHECK_MAX_BYTES = 67108864
gpu-check:
	@test -f $(SHARED)/data/tinyshakespeare.txt || { echo "gpu-check: $(SHARED)/data/tinyshakespeare.txt not found: set SHARED to the folder that holds data/ and anchors/"; exit 1; }
	@command -v gcc >/dev/null 2>&1 || { echo "gpu-check: gcc not found: the CUDA backend needs cgo, which needs gcc (Debian: apt-get install gcc)"; exit 1; }
	rm -rf bin && mkdir -p bin
	$(GPU_GO) build $(GPU_LDFLAGS) -o bin/recur ./cmd/recur
	$(GPU_GO) build $(GPU_LDFLAGS) -o bin/bench ./cmd/bench
	$(GPU_GO) test -c $(GPU_LDFLAGS) -o bin/enginetest.test ./engine/enginetest
	$(GPU_GO) test -c $(GPU_LDFLAGS) -o bin/engine.test ./engine
	$(GPU_GO) test -c $(GPU_LDFLAGS) -o bin/cuda.test ./cuda
	$(GPU_GO) test -c $(GPU_LDFLAGS) -o bin/lstm.test ./lstm
	$(GPU_GO) test -c $(GPU_LDFLAGS) -o bin/tasks.test ./tasks
	mkdir -p bin/testdata/torch
	cp lstm/testdata/torch/*.safetensors bin/testdata/torch/
	cp scripts/gpu-check.sh scripts/compare_curves.py scripts/compare_viz_json.py scripts/bench_ratio.py scripts/torch_bench.py bin/
	cp $(SHARED)/data/tinyshakespeare.txt bin/
	@bytes=$$(du -sb bin | cut -f1); echo "gpu-check: bin/ holds $$bytes bytes"; \
	if [ "$$bytes" -ge $(GPU_CHECK_MAX_BYTES) ]; then \
		echo "gpu-check: bin/ exceeds $(GPU_CHECK_MAX_BYTES) bytes, the most a GPU machine receives" >&2; exit 1; \
	fi

# Each fuzzer runs for FUZZTIME beyond its seed corpus, which make test already runs.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./safetensors
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeUTF8$$' -fuzztime $(FUZZTIME) ./corpus
	$(GO) test -run '^$$' -fuzz '^FuzzEvalChunks$$' -fuzztime $(FUZZTIME) ./corpus
	$(GO) test -run '^$$' -fuzz '^FuzzNewBatcher$$' -fuzztime $(FUZZTIME) ./corpus
	$(GO) test -run '^$$' -fuzz '^FuzzLoadConfig$$' -fuzztime $(FUZZTIME) ./lstm
	$(GO) test -run '^$$' -fuzz '^FuzzResumeConfig$$' -fuzztime $(FUZZTIME) ./lstm
	$(GO) test -run '^$$' -fuzz '^FuzzReadMatrix$$' -fuzztime $(FUZZTIME) ./dataset
	$(GO) test -run '^$$' -fuzz '^FuzzReadLabeled$$' -fuzztime $(FUZZTIME) ./dataset

# Regenerates the PyTorch parity fixtures into a temporary directory and fails when any byte
# differs from the committed ones. Without torch for /usr/bin/python3 (Debian: python3-torch)
# it skips. It takes a few seconds.
TORCH_FIXTURES = lstm/testdata/torch
check-fixtures:
	@if ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then \
		echo "check-fixtures: skipped: /usr/bin/python3 cannot import torch (Debian: apt-get install python3-torch)"; \
		exit 0; \
	fi; \
	tmp=$$(mktemp -d) || exit 1; \
	trap 'rm -rf "$$tmp"' EXIT; \
	scripts/make_torch_fixtures.py "$$tmp" >/dev/null || exit 1; \
	for f in lstm gru rnn; do \
		if ! cmp "$$tmp/$$f.safetensors" $(TORCH_FIXTURES)/$$f.safetensors; then \
			echo "$(TORCH_FIXTURES)/$$f.safetensors differs from what scripts/make_torch_fixtures.py writes: regenerate and commit it" >&2; \
			exit 1; \
		fi; \
	done; \
	echo "check-fixtures: $(TORCH_FIXTURES) matches scripts/make_torch_fixtures.py"

fmt:
	gofmt -l -w .

vet:
	$(GO) vet ./...

clean:
	rm -rf bin out

# CUDA kernels: one fatbin with SASS for each GPU generation from Volta (sm_70) to Hopper (sm_90), plus
# compute_90 PTX that the driver compiles for newer GPUs. The fatbin is committed, so building recur needs
# no CUDA. KERNEL_NVCC_VERSION is the nvcc release that built the committed fatbin (Debian bookworm's
# nvidia-cuda-toolkit 11.8): other releases emit other bytes.
NVCC               ?= nvcc
KERNEL_NVCC_VERSION = V11.8.89
KERNEL_SRC          = kernels/recur_kernels.cu
KERNEL_FATBIN       = kernels/recur_kernels.fatbin
KERNEL_ARCHS        = -gencode arch=compute_70,code=sm_70 -gencode arch=compute_75,code=sm_75 \
	-gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
	-gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=[sm_90,compute_90]
KERNEL_FLAGS        = -fatbin -O3 $(KERNEL_ARCHS)
# Prints nvcc's release, for example V11.8.89.
NVCC_RELEASE        = $(NVCC) --version | sed -n 's/^Cuda compilation tools, release .*, \(V[0-9.]*\)$$/\1/p'

.PHONY: kernels check-kernels
kernels:
	@release=$$($(NVCC_RELEASE)); if [ "$$release" != "$(KERNEL_NVCC_VERSION)" ]; then \
		echo "kernels: warning: nvcc $$release is not $(KERNEL_NVCC_VERSION), so make check-kernels" \
			"will not accept this fatbin until KERNEL_NVCC_VERSION is updated" >&2; \
	fi
	$(NVCC) $(KERNEL_FLAGS) -o $(KERNEL_FATBIN) $(KERNEL_SRC)

# Rebuilds the fatbin in a temporary folder and fails when its bytes differ from the committed one. With the
# same nvcc release the output depends only on the sources and the flags (not on paths or time), so the
# comparison is exact. Without nvcc, or with another release, it skips, unless CI=true.
check-kernels:
	@skip() { \
		if [ "$$CI" = true ]; then echo "check-kernels: $$1" >&2; exit 1; fi; \
		echo "check-kernels: skipped: $$1"; exit 0; \
	}; \
	command -v $(NVCC) >/dev/null 2>&1 || \
		skip "$(NVCC) not found. Install nvcc $(KERNEL_NVCC_VERSION) (Debian: nvidia-cuda-toolkit)"; \
	release=$$($(NVCC_RELEASE)); \
	[ "$$release" = "$(KERNEL_NVCC_VERSION)" ] || \
		skip "nvcc is $$release, but $(KERNEL_FATBIN) is built with $(KERNEL_NVCC_VERSION), so the bytes differ"; \
	tmp=$$(mktemp -d) || exit 1; \
	trap 'rm -rf "$$tmp"' EXIT; \
	$(NVCC) $(KERNEL_FLAGS) -o "$$tmp/recur_kernels.fatbin" $(KERNEL_SRC) || exit 1; \
	if ! cmp -s "$$tmp/recur_kernels.fatbin" $(KERNEL_FATBIN); then \
		echo "$(KERNEL_FATBIN) is stale: run make kernels and commit it" >&2; exit 1; \
	fi; \
	echo "check-kernels: $(KERNEL_FATBIN) matches its sources"
