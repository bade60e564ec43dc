# recur's build, test and demo entry points. Every target needs only Go (and gcc for cgo).
GO        ?= go
GOROOT_SRC = $(shell $(GO) env GOROOT)/src
# The demo corpus: the Go standard library's net/http sources, about 2.2 MB and 140 code points.
DATA      ?= $(GOROOT_SRC)/net/http
FILTER    ?= *.go
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
demo: build
	@mkdir -p $(dir $(DEMO_OUT))
	bin/recur train --data '$(DATA)' --filter '$(FILTER)' --layers 2 --hidden 256 --embed 64 \
		--seq 64 --batch 32 --steps $(DEMO_STEPS) --eval-every 200 --log-every 20 \
		--out $(DEMO_OUT) --metrics $(DEMO_OUT).metrics.jsonl
	bin/recur sample --checkpoint $(DEMO_OUT) --prime 'func (s *Server) ' --length 800 --temperature 0.7

bench: build
	bin/bench

fmt:
	gofmt -l -w .

vet:
	$(GO) vet ./...

clean:
	rm -rf bin out
