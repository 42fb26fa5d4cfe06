package onnx

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestNHWCToNCHW(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ c, hw int }{{1, 7}, {5, 511}, {5, 512}, {19, 1300}, {3, 1}} {
		src := make([]float32, tc.c*tc.hw)
		for i := range src {
			src[i] = rng.Float32()
		}
		got, want := make([]float32, len(src)), make([]float32, len(src))
		NHWCToNCHW(got, src, tc.c, tc.hw)
		nhwcToNCHWRef(want, src, tc.c, tc.hw)
		if !slices.Equal(got, want) {
			t.Errorf("c=%d hw=%d: blocked transpose differs from the plain one", tc.c, tc.hw)
		}
	}
}

func benchmarkTranspose(b *testing.B, f func(dst, src []float32, c, hw int), c, hw int) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, c*hw)
	for i := range src {
		src[i] = rng.Float32()
	}
	dst := make([]float32, len(src))
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		f(dst, src, c, hw)
	}
}

func BenchmarkNHWCToNCHWSmall(b *testing.B)    { benchmarkTranspose(b, NHWCToNCHW, 5, 64*128) }
func BenchmarkNHWCToNCHWRefSmall(b *testing.B) { benchmarkTranspose(b, nhwcToNCHWRef, 5, 64*128) }
func BenchmarkNHWCToNCHWLarge(b *testing.B)    { benchmarkTranspose(b, NHWCToNCHW, 19, 512*1024) }
func BenchmarkNHWCToNCHWRefLarge(b *testing.B) { benchmarkTranspose(b, nhwcToNCHWRef, 19, 512*1024) }

// TestNHWCToNCHWShort checks that too short a buffer panics with the
// package's message.
func TestNHWCToNCHWShort(t *testing.T) {
	for _, tc := range []struct{ src, dst int }{{14, 15}, {15, 14}} {
		func() {
			defer func() {
				if r, _ := recover().(string); !strings.HasPrefix(r, "onnx: NHWCToNCHW") {
					t.Errorf("src %d, dst %d for 3x5: recovered %q", tc.src, tc.dst, r)
				}
			}()
			NHWCToNCHW(make([]float32, tc.dst), make([]float32, tc.src), 3, 5)
		}()
	}
}
