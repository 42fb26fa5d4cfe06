package onnx

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestInspectProbeStaticSize: a probe size that a fixed-size model refuses runs at the model's
// size instead, and says so.
func TestInspectProbeStaticSize(t *testing.T) {
	needRuntime(t)
	r, err := Inspect(filepath.Join("..", "testdata", "models", "tiny_static_s8.onnx"), 32, 32, Options{Threads: 1})
	if err != nil {
		t.Fatalf("inspect --probe 32x32 of a 64x128 model: %v", err)
	}
	if r.Probe.H != 64 || r.Probe.W != 128 || !strings.Contains(r.Probe.Note, "64x128") || len(r.Probe.Candidates) == 0 {
		t.Fatalf("probe %dx%d, note %q, %d candidates", r.Probe.H, r.Probe.W, r.Probe.Note, len(r.Probe.Candidates))
	}
}
