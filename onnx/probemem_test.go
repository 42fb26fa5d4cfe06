package onnx

import (
	"testing"
)

// TestProbeMemory checks that a probe does not hold every intermediate
// tensor at once: the outputs of each probe run must stay under the bytes
// of the largest intermediate tensor, which any forward pass holds too.
func TestProbeMemory(t *testing.T) {
	needRuntime(t)
	spec := netSpec{channels: []int{8, 8, 8, 8}}
	p := writeModel(t, t.TempDir(), "m.onnx", buildNet(spec))
	var peak int64
	probeHeldHook = func(b int64) { peak = max(peak, b) }
	defer func() { probeHeldHook = nil }()
	const h, w = 64, 64
	r, err := Inspect(p, h, w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var all, largest int64
	for _, c := range r.Probe.Candidates {
		b := 4 * numel(c.Shape)
		all += b
		largest = max(largest, b)
	}
	t.Logf("probe held %d bytes at once; all candidates %d, largest %d", peak, all, largest)
	if peak == 0 || peak > largest {
		t.Errorf("probe held %d bytes of outputs at once; the largest tensor has %d (all candidates %d)", peak, largest, all)
	}
}
