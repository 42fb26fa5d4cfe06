# lmpseg: `make demo` runs the main job on the embedded default; `make test` runs the tests.
GO ?= go
ORT_LIB := third_party/onnxruntime/lib/libonnxruntime.so.1.24.1
BIN := bin/lmpseg

.PHONY: all build demo test onnxruntime generate bench fuzz soak clean

all: build

onnxruntime: $(ORT_LIB)
$(ORT_LIB):
	bash scripts/install-onnxruntime.sh

build: $(BIN)
$(BIN): $(shell find . -name '*.go' -not -path './third_party/*') go.mod go.sum
	$(GO) build -o $(BIN) .

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
