// Package ortest holds the test helper that the packages whose tests run onnxruntime share
// (package onnx's own tests, which it cannot import, keep theirs).
package ortest

import (
	"errors"
	"testing"

	"github.com/lmpseg/lmpseg/onnx"
)

// Init loads onnxruntime for a test: it skips the test when no library is installed
// (onnx.ErrNoRuntime; `make onnxruntime` installs one) and fails it when one is found but
// cannot be loaded.
func Init(tb testing.TB) {
	tb.Helper()
	if _, err := onnx.InitRuntime(""); errors.Is(err, onnx.ErrNoRuntime) {
		tb.Skipf("onnxruntime not available: %v", err)
	} else if err != nil {
		tb.Fatal(err)
	}
}
