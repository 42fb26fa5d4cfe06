package lmp

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// vectorsDir holds reference vectors computed independently (by bisection in float64).
var vectorsDir = filepath.Join("..", "..", "shared", "lmp-vectors")

// TestVectors compares Weights with the shared reference vectors, when they are present.
func TestVectors(t *testing.T) {
	idx, err := os.ReadFile(filepath.Join(vectorsDir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no reference vectors at", vectorsDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		File  string          `json:"file"`
		P     json.RawMessage `json:"p"`
		Ratio float64         `json:"ratio"`
		N     int             `json:"n"`
		Loss  float64         `json:"loss"`
	}
	if err := json.Unmarshal(idx, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("empty index.json")
	}
	for _, e := range entries {
		p := math.Inf(1)
		if string(e.P) != `"inf"` {
			if err := json.Unmarshal(e.P, &p); err != nil {
				t.Fatalf("%s: p %s: %v", e.File, e.P, err)
			}
		}
		b, err := os.ReadFile(filepath.Join(vectorsDir, e.File))
		if err != nil {
			t.Fatal(err)
		}
		n := int(binary.LittleEndian.Uint32(b))
		if n != e.N || len(b) != 4+4*n {
			t.Fatalf("%s: n = %d, index says %d, %d bytes", e.File, n, e.N, len(b))
		}
		l := make([]float32, n)
		for i := range l {
			l[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4+4*i:]))
		}
		for _, fm := range []int{defaultTuning().fastMin, 0} {
			tu := defaultTuning()
			tu.fastMin = fm
			w := make([]float32, n)
			L, err := weights(w, l, p, e.Ratio, tu)
			if err != nil {
				t.Fatalf("%s: %v", e.File, err)
			}
			if d := math.Abs(L - e.Loss); d > 1e-5*e.Loss {
				t.Errorf("%s (p=%v r=%v n=%d fastMin=%d): L = %v, reference %v", e.File, p, e.Ratio, n, fm, L, e.Loss)
			}
			if err := feasible(w, p, e.Ratio); err != nil {
				t.Errorf("%s: %v", e.File, err)
			}
		}
	}
}
