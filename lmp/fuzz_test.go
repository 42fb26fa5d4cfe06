package lmp

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// FuzzWeights decodes losses from bytes and checks Weights against the oracle, the constraints
// and its own returned value; invalid inputs must give an error wrapping ErrInput, never a panic.
func FuzzWeights(f *testing.F) {
	enc := func(l ...float32) []byte {
		b := make([]byte, 4*len(l))
		for i, x := range l {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b
	}
	f.Add(enc(1, 2, 3), 1.7, 0.25, false)
	f.Add(enc(0, 0, 5), 2.0, 0.1, true)
	f.Add(enc(1e30, 1, 1, 1e-30, 0), 1.01, 0.5, true)
	f.Add(enc(3, 3, 3, 3), 50.0, 0.3, false)
	f.Add(enc(1, float32(math.NaN())), 2.0, 0.5, false)
	f.Fuzz(func(t *testing.T, data []byte, p, ratio float64, fast bool) {
		n := len(data) / 4
		if n > 600 {
			n = 600
		}
		l := make([]float32, n)
		valid := true
		for i := range l {
			l[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			if math.IsNaN(float64(l[i])) || math.IsInf(float64(l[i]), 0) || l[i] < 0 {
				valid = false
			}
		}
		if !math.IsNaN(p) && p > 1e6 && !math.IsInf(p, 1) {
			p = 1e6
		}
		tu := defaultTuning()
		if fast {
			tu.fastMin, tu.sampleSize = 0, 8
		}
		w := make([]float32, n)
		L, err := weights(w, l, p, ratio, tu)
		valid = valid && n > 0 && p >= 1 && ratio >= 0 && ratio <= 1
		if !valid {
			if err == nil || !errors.Is(err, ErrInput) {
				t.Fatalf("invalid input (n=%d p=%v r=%v): error %v", n, p, ratio, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("n=%d p=%v r=%v: %v", n, p, ratio, err)
		}
		if math.IsNaN(L) || math.IsInf(L, 0) {
			t.Fatalf("L = %v", L)
		}
		want, _ := oracle(l, p, ratio)
		tol := 1e-9
		if p > 1 && p < 1.02 {
			tol = 1e-7
		}
		if d := math.Abs(L - want); d > tol*want+1e-300 {
			t.Fatalf("n=%d p=%v r=%v: L = %v, oracle %v", n, p, ratio, L, want)
		}
		if err := feasible(w, p, ratio); err != nil {
			t.Fatalf("n=%d p=%v r=%v: %v", n, p, ratio, err)
		}
	})
}
