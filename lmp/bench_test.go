package lmp

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The benchmarks run on exponential losses with a fixed seed: Large is one 1024x2048 image
// (2^21 pixels), Small a 128x128 crop (2^14). Compare BenchmarkWeights* with BenchmarkSort*
// (slices.Sort of a copy, the cost of the sort-based solver's core) and BenchmarkMean* (one
// plain pass) from the same run; BenchmarkWeights* also report sort/weights, the ratio of the
// fastest of interleaved runs of the sort and of Weights in the same process.

const benchP, benchRatio = 1.7, 0.25

// benchLosses returns the n losses of a benchmark and counts them (4n bytes) as what each of
// its runs processes. The timing starts at b.Loop, after the set-up.
func benchLosses(b *testing.B, n int) []float32 {
	b.SetBytes(int64(4 * n))
	g := rand.New(rand.NewPCG(2017, 1704))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(g.ExpFloat64())
	}
	return l
}

var sinkF float64

func benchWeights(b *testing.B, n int) {
	l := benchLosses(b, n)
	w := make([]float32, n)
	for b.Loop() {
		L, err := Weights(w, l, benchP, benchRatio)
		if err != nil {
			b.Fatal(err)
		}
		sinkF = L
	}
	// The ratio to the sort: the fastest of interleaved runs of each, which is robust to the
	// load of a shared machine.
	if b.N > 1 {
		c := make([]float32, n)
		rounds := 5
		if n < 1<<18 {
			rounds = 30
		}
		bw, bs := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
		for range rounds {
			t0 := time.Now()
			if _, err := Weights(w, l, benchP, benchRatio); err != nil {
				b.Fatal(err)
			}
			bw = min(bw, time.Since(t0))
			t0 = time.Now()
			copy(c, l)
			slices.Sort(c)
			bs = min(bs, time.Since(t0))
		}
		b.ReportMetric(float64(bs)/float64(bw), "sort/weights")
	}
}

func benchSort(b *testing.B, n int) {
	l := benchLosses(b, n)
	c := make([]float32, n)
	for b.Loop() {
		copy(c, l)
		slices.Sort(c)
	}
}

func benchMean(b *testing.B, n int) {
	l := benchLosses(b, n)
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
