package lmp

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The benchmarks run on exponential losses with a fixed seed: Large is one 1024x2048 image
// (2^21 pixels), Small a 128x128 crop (2^14). Compare BenchmarkWeights* with BenchmarkSort*
// (slices.Sort of a copy, the cost of the sort-based solver's core) and BenchmarkMean* (one
// plain pass) from the same run; BenchmarkWeightsLarge also reports sort/weights, the ratio of
// the sort time measured in the same process to its own time.

const benchP, benchRatio = 1.7, 0.25

func benchLosses(n int) []float32 {
	g := rand.New(rand.NewPCG(2017, 1704))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(g.ExpFloat64())
	}
	return l
}

var sinkF float64

func benchWeights(b *testing.B, n int) {
	l := benchLosses(n)
	w := make([]float32, n)
	b.SetBytes(int64(4 * n))
	b.ResetTimer()
	for b.Loop() {
		L, err := Weights(w, l, benchP, benchRatio)
		if err != nil {
			b.Fatal(err)
		}
		sinkF = L
	}
	// Time the sort in the same process for the ratio.
	if b.N > 1 {
		per := b.Elapsed().Seconds() / float64(b.N)
		c := make([]float32, n)
		reps := max(1, min(b.N, 5))
		t0 := time.Now()
		for range reps {
			copy(c, l)
			slices.Sort(c)
		}
		b.ReportMetric(time.Since(t0).Seconds()/float64(reps)/per, "sort/weights")
	}
}

func benchSort(b *testing.B, n int) {
	l := benchLosses(n)
	c := make([]float32, n)
	b.SetBytes(int64(4 * n))
	b.ResetTimer()
	for b.Loop() {
		copy(c, l)
		slices.Sort(c)
	}
}

func benchMean(b *testing.B, n int) {
	l := benchLosses(n)
	b.SetBytes(int64(4 * n))
	b.ResetTimer()
	for b.Loop() {
		var s float64
		for _, x := range l {
			s += float64(x)
		}
		sinkF = s / float64(n)
	}
}

func BenchmarkWeightsLarge(b *testing.B) { benchWeights(b, 1<<21) }
func BenchmarkSortLarge(b *testing.B)    { benchSort(b, 1<<21) }
func BenchmarkMeanLarge(b *testing.B)    { benchMean(b, 1<<21) }
func BenchmarkWeightsSmall(b *testing.B) { benchWeights(b, 1<<14) }
func BenchmarkSortSmall(b *testing.B)    { benchSort(b, 1<<14) }
func BenchmarkMeanSmall(b *testing.B)    { benchMean(b, 1<<14) }
