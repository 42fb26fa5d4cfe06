# lmpseg: `make demo` runs the main job on the embedded default; `make test` runs the tests.
GO ?= go
ORT_LIB := third_party/onnxruntime/lib/libonnxruntime.so.1.24.1
BIN := bin/lmpseg

.PHONY: all build install check-build demo test onnxruntime generate bench fuzz soak clean

all: build

onnxruntime: $(ORT_LIB)
$(ORT_LIB):
	bash scripts/install-onnxruntime.sh

# bin/lmpseg finds the library in ../third_party/onnxruntime/lib from wherever it is run. Without a
# network the build still succeeds; the binary then says how to install the library.
build: $(BIN)
	@test -f $(ORT_LIB) || bash scripts/install-onnxruntime.sh || \
	  echo "make: onnxruntime not installed; $(BIN) will ask for 'lmpseg runtime install' or ONNXRUNTIME_LIB" >&2
$(BIN): $(shell find . -name '*.go' -not -path './third_party/*') go.mod go.sum
	$(GO) build -o $(BIN) .

# install: lmpseg into $$GOBIN (go install) and onnxruntime into the user cache, where an
# installed lmpseg finds it (copied from third_party/, so no second download).
install: onnxruntime
	$(GO) install .
	gobin=$$($(GO) env GOBIN); [ -n "$$gobin" ] || gobin=$$($(GO) env GOPATH)/bin; \
	  cd / && "$$gobin/lmpseg" runtime install --from "$(CURDIR)/$(ORT_LIB)"

# check-build: bin/lmpseg run from an unrelated folder, without ONNXRUNTIME_LIB, must load the
# library beside it.
check-build: build
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && cd "$$dir" && \
	  env -u ONNXRUNTIME_LIB -u LMPSEG_ORT_LIB "$(CURDIR)/$(BIN)" runtime > out.txt; rc=$$?; cat out.txt; \
	  [ $$rc -eq 0 ] && grep -q "^using $(CURDIR)/$(dir $(ORT_LIB))" out.txt && echo "check-build: ok" || \
	  { echo "check-build: $(BIN) run from $$dir did not load $(ORT_LIB)" >&2; exit 1; }

demo: onnxruntime build
	./$(BIN) demo --out demo-out

test: onnxruntime
	$(GO) vet ./...
	$(GO) test -count=1 ./...

generate:
	$(GO) generate ./...

bench: onnxruntime
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Long runs, not part of CI: FUZZTIME per target.
FUZZTIME ?= 3m
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzWeights -fuzztime $(FUZZTIME) ./lmp/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./onnx/
	$(GO) test -run '^$$' -fuzz FuzzDecodeLabel -fuzztime $(FUZZTIME) ./data/
	$(GO) test -run '^$$' -fuzz FuzzConfig -fuzztime $(FUZZTIME) ./train/
	$(GO) test -run '^$$' -fuzz FuzzCheckpoint -fuzztime $(FUZZTIME) ./train/
	$(GO) test -run '^$$' -fuzz FuzzRunFolder -fuzztime $(FUZZTIME) ./train/

clean:
	rm -rf bin demo-out
