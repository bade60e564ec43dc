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

.PHONY: build test test-short demo bench fmt vet kernels gpu-check clean

build:
	$(GO) build -o bin/recur ./cmd/recur
	$(GO) build -o bin/bench ./cmd/bench

# The whole test suite, with the pure-Go GEMM path checked again in a cgo-free build.
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	CGO_ENABLED=0 $(GO) test -count=1 ./engine/... ./lstm/...
	CGO_ENABLED=0 $(GO) build -o /dev/null ./...

# Trains a 2-layer LSTM for a few minutes on Go source, then samples from it.
# Each run starts afresh: it replaces the previous demo's checkpoint and metrics.
demo: build
	@mkdir -p $(dir $(DEMO_OUT))
	rm -rf $(DEMO_OUT) $(DEMO_OUT).metrics.jsonl
	bin/recur train --data '$(DATA)' --filter '$(FILTER)' --layers 2 --hidden 256 --embed 64 \
		--seq 64 --batch 32 --steps $(DEMO_STEPS) --eval-every 200 --log-every 20 \
		--out $(DEMO_OUT) --metrics $(DEMO_OUT).metrics.jsonl
	bin/recur sample --checkpoint $(DEMO_OUT) --prime '$(PRIME)' --length 800 --temperature 0.7

bench: build
	bin/bench

fmt:
	gofmt -l -w .

vet:
	$(GO) vet ./...

clean:
	rm -rf bin out

# CUDA kernels: one fatbin with SASS for each GPU generation from Volta (sm_70) to Hopper (sm_90), plus
# compute_90 PTX that the driver compiles for newer GPUs. Needs nvcc from CUDA 11.8 or later; the fatbin is
# committed, so building recur needs no CUDA at all.
NVCC         ?= nvcc
KERNEL_SRC    = kernels/recur_kernels.cu
KERNEL_DEPS   = $(KERNEL_SRC) kernels/recur_math.cuh
KERNEL_FATBIN = kernels/recur_kernels.fatbin
KERNEL_ARCHS  = -gencode arch=compute_70,code=sm_70 -gencode arch=compute_75,code=sm_75 \
	-gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
	-gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=[sm_90,compute_90]
KERNEL_FLAGS  = -fatbin -O3 $(KERNEL_ARCHS)

kernels: $(KERNEL_DEPS)
	$(NVCC) $(KERNEL_FLAGS) -o $(KERNEL_FATBIN) $(KERNEL_SRC)

# Rebuilds the fatbin in a temporary folder and fails when it differs from the committed one. nvcc's output
# depends only on the sources, the flags and the nvcc version, so a byte comparison is exact. Without nvcc
# it skips, unless CI=true.
.PHONY: check-kernels
check-kernels:
	@if ! command -v $(NVCC) >/dev/null 2>&1; then \
		if [ "$$CI" = true ]; then \
			echo "check-kernels: $(NVCC) not found; CI needs nvcc (Debian: nvidia-cuda-toolkit)" >&2; exit 1; \
		fi; \
		echo "check-kernels: skipped, $(NVCC) not found (Debian: apt-get install nvidia-cuda-toolkit)"; exit 0; \
	fi; \
	tmp=$$(mktemp -d) || exit 1; \
	trap 'rm -rf "$$tmp"' EXIT; \
	$(NVCC) $(KERNEL_FLAGS) -o "$$tmp/recur_kernels.fatbin" $(KERNEL_SRC) || exit 1; \
	if ! cmp -s "$$tmp/recur_kernels.fatbin" $(KERNEL_FATBIN); then \
		echo "$(KERNEL_FATBIN) is stale: run make kernels and commit it" >&2; exit 1; \
	fi; \
	echo "check-kernels: $(KERNEL_FATBIN) matches its sources"
