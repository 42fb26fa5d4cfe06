package resample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refTap is the plain half-pixel coordinate map of output sample d.
func refTap(in, out, d int) (i0, i1 int, l float64) {
	src := math.Max(0, (float64(d)+0.5)*float64(in)/float64(out)-0.5)
	i0 = min(int(math.Floor(src)), in-1)
	i1 = min(i0+1, in-1)
	if i1 == i0 {
		return i0, i1, 0
	}
	return i0, i1, src - float64(i0)
}

// refBilinear resizes plainly, pixel by pixel, in float32 with the
// arithmetic of form f (so it must match the kernels bit for bit).
func refBilinear(dst []float32, dh, dw int, src []float32, sh, sw, channels int, f Form) {
	for c := 0; c < channels; c++ {
		at := func(y, x int) float32 { return src[(c*sh+y)*sw+x] }
		for y := 0; y < dh; y++ {
			y0, y1, ly64 := refTap(sh, dh, y)
			ly := float32(ly64)
			for x := 0; x < dw; x++ {
				x0, x1, lx64 := refTap(sw, dw, x)
				lx := float32(lx64)
				var v float32
				if f == Weighted {
					top := (1-lx)*at(y0, x0) + lx*at(y0, x1)
					bot := (1-lx)*at(y1, x0) + lx*at(y1, x1)
					v = (1-ly)*top + ly*bot
				} else {
					top := at(y0, x0) + lx*(at(y0, x1)-at(y0, x0))
					bot := at(y1, x0) + lx*(at(y1, x1)-at(y1, x0))
					v = top + ly*(bot-top)
				}
				dst[(c*dh+y)*dw+x] = v
			}
		}
	}
}

// refBilinear64 is the exact interpolation in float64.
func refBilinear64(dh, dw int, src []float32, sh, sw, channels int) []float64 {
	out := make([]float64, channels*dh*dw)
	for c := 0; c < channels; c++ {
		at := func(y, x int) float64 { return float64(src[(c*sh+y)*sw+x]) }
		for y := 0; y < dh; y++ {
			y0, y1, ly := refTap(sh, dh, y)
			for x := 0; x < dw; x++ {
				x0, x1, lx := refTap(sw, dw, x)
				out[(c*dh+y)*dw+x] = (1-ly)*((1-lx)*at(y0, x0)+lx*at(y0, x1)) + ly*((1-lx)*at(y1, x0)+lx*at(y1, x1))
			}
		}
	}
	return out
}

var sizes = []struct{ c, sh, sw, dh, dw int }{
	{1, 1, 1, 1, 1},
	{1, 1, 2, 1, 4},
	{2, 2, 2, 3, 3},
	{3, 3, 4, 12, 17},
	{2, 7, 5, 3, 2},
	{1, 4, 6, 5, 9},
	{3, 5, 5, 5, 5},
	{1, 16, 32, 128, 256},
	{2, 9, 7, 64, 1},
	{1, 33, 65, 7, 9},
}

func randPlanes(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

func TestBilinearAxis(t *testing.T) {
	for _, tc := range [][2]int{{1, 1}, {1, 5}, {2, 4}, {3, 2}, {7, 3}, {5, 17}, {16, 128}, {100, 7}} {
		in, out := tc[0], tc[1]
		m := BilinearAxis(in, out)
		if m.Len() != out {
			t.Fatalf("%d->%d: %d samples", in, out, m.Len())
		}
		for d := 0; d < out; d++ {
			i0, i1, l := refTap(in, out, d)
			if int(m.I0[d]) != i0 || int(m.I1[d]) != i1 || m.L[d] != float32(l) {
				t.Errorf("%d->%d sample %d: (%d, %d, %v), want (%d, %d, %v)", in, out, d, m.I0[d], m.I1[d], m.L[d], i0, i1, float32(l))
			}
		}
		for o0 := 0; o0 < out; o0 += 3 {
			n := min(4, out-o0)
			r := BilinearAxisRange(in, out, o0, n)
			for j := 0; j < n; j++ {
				if r.I0[j] != m.I0[o0+j] || r.I1[j] != m.I1[o0+j] || r.L[j] != m.L[o0+j] {
					t.Fatalf("%d->%d range at %d: sample %d differs from the full map", in, out, o0, j)
				}
			}
		}
	}
}

// TestBilinearKnown checks hand-computed values of PyTorch's
// interpolate(bilinear, align_corners=False).
func TestBilinearKnown(t *testing.T) {
	cases := []struct {
		sh, sw, dh, dw int
		src, want      []float32
	}{
		// src coords -0.25 (clamped to 0), 0.25, 0.75, 1.25 (upper tap clamped).
		{1, 2, 1, 4, []float32{0, 1}, []float32{0, 0.25, 0.75, 1}},
		// scale 2/3: coords -1/6 -> 0, 0.5, 7/6 -> 1.
		{2, 2, 3, 3, []float32{1, 2, 3, 4}, []float32{1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4}},
		// downsampling 4 -> 2 averages pairs: coords 0.5 and 2.5.
		{1, 4, 1, 2, []float32{0, 2, 4, 8}, []float32{1, 6}},
	}
	for k, tc := range cases {
		for _, f := range []Form{Weighted, Lerp} {
			got := make([]float32, tc.dh*tc.dw)
			BilinearForm(got, tc.dh, tc.dw, tc.src, tc.sh, tc.sw, 1, f)
			for i, v := range tc.want {
				if math.Abs(float64(got[i]-v)) > 1e-6 {
					t.Errorf("case %d %v [%d]: %v, want %v", k, f, i, got[i], v)
				}
			}
		}
	}
}

// TestBilinearMatchesReference checks both forms bit for bit against the
// plain per-pixel reference, and against the float64 interpolation.
func TestBilinearMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for k, tc := range sizes {
		src := randPlanes(rng, tc.c*tc.sh*tc.sw, 10)
		exact := refBilinear64(tc.dh, tc.dw, src, tc.sh, tc.sw, tc.c)
		for _, f := range []Form{Weighted, Lerp} {
			name := fmt.Sprintf("case %d %+v %v", k, tc, f)
			got := make([]float32, tc.c*tc.dh*tc.dw)
			want := make([]float32, len(got))
			if f == Weighted {
				Bilinear(got, tc.dh, tc.dw, src, tc.sh, tc.sw, tc.c)
			} else {
				BilinearForm(got, tc.dh, tc.dw, src, tc.sh, tc.sw, tc.c, f)
			}
			refBilinear(want, tc.dh, tc.dw, src, tc.sh, tc.sw, tc.c, f)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s: [%d] = %v, reference %v", name, i, got[i], want[i])
				}
				if d := math.Abs(float64(got[i]) - exact[i]); d > 1e-5*math.Max(1, math.Abs(exact[i])) {
					t.Fatalf("%s: [%d] = %v, exact %v", name, i, got[i], exact[i])
				}
			}
		}
	}
}

// BenchmarkBilinear measures 8x upsampling of 19 planes (logits to label
// size) with both forms and with the plain per-pixel reference, which is
// the baseline for the ratio.
func BenchmarkBilinear(b *testing.B) {
	for _, sz := range []struct {
		name   string
		sh, sw int
	}{{"Small", 16, 32}, {"Large", 64, 128}} {
		const c, f = 19, 8
		rng := rand.New(rand.NewPCG(1, 1))
		src := randPlanes(rng, c*sz.sh*sz.sw, 1)
		dh, dw := sz.sh*f, sz.sw*f
		dst := make([]float32, c*dh*dw)
		b.Run(sz.name+"/weighted", func(b *testing.B) {
			for b.Loop() {
				BilinearForm(dst, dh, dw, src, sz.sh, sz.sw, c, Weighted)
			}
		})
		b.Run(sz.name+"/lerp", func(b *testing.B) {
			for b.Loop() {
				BilinearForm(dst, dh, dw, src, sz.sh, sz.sw, c, Lerp)
			}
		})
		b.Run(sz.name+"/reference", func(b *testing.B) {
			for b.Loop() {
				refBilinear(dst, dh, dw, src, sz.sh, sz.sw, c, Weighted)
			}
		})
	}
}

// TestWindow checks that every window of a resized plane equals the same
// rectangle of the whole resize.
func TestWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for k, tc := range sizes {
		src := randPlanes(rng, tc.sh*tc.sw, 1)
		for _, f := range []Form{Weighted, Lerp} {
			full := make([]float32, tc.dh*tc.dw)
			BilinearForm(full, tc.dh, tc.dw, src, tc.sh, tc.sw, 1, f)
			for trial := 0; trial < 5; trial++ {
				y0, x0 := rng.IntN(tc.dh), rng.IntN(tc.dw)
				h, w := 1+rng.IntN(tc.dh-y0), 1+rng.IntN(tc.dw-x0)
				stride := w + rng.IntN(3)
				dst := make([]float32, (h-1)*stride+w)
				Window(dst, stride, src, tc.sw, BilinearAxisRange(tc.sh, tc.dh, y0, h), BilinearAxisRange(tc.sw, tc.dw, x0, w), f)
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						if g, want := dst[y*stride+x], full[(y0+y)*tc.dw+x0+x]; math.Float32bits(g) != math.Float32bits(want) {
							t.Fatalf("case %d %v window (%d,%d) %dx%d: [%d,%d] = %v, want %v", k, f, y0, x0, h, w, y, x, g, want)
						}
					}
				}
			}
		}
	}
}

// TestRowAdjoint checks <Row(r), dy> = <r, RowAdjoint(dy)> for both rows,
// including the edge rows where r0 and r1 coincide.
func TestRowAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for k, tc := range sizes {
		src := randPlanes(rng, tc.sh*tc.sw, 1)
		ym, xm := BilinearAxis(tc.sh, tc.dh), BilinearAxis(tc.sw, tc.dw)
		dy := randPlanes(rng, tc.dh*tc.dw, 1)
		g := make([]float32, len(src))
		var lhs float64
		row := make([]float32, tc.dw)
		for y := 0; y < tc.dh; y++ {
			r0, r1 := src[int(ym.I0[y])*tc.sw:][:tc.sw], src[int(ym.I1[y])*tc.sw:][:tc.sw]
			Row(row, r0, r1, ym.L[y], xm, Weighted)
			d := dy[y*tc.dw:][:tc.dw]
			for x, v := range row {
				lhs += float64(v) * float64(d[x])
			}
			RowAdjoint(g[int(ym.I0[y])*tc.sw:][:tc.sw], g[int(ym.I1[y])*tc.sw:][:tc.sw], d, ym.L[y], xm)
		}
		var rhs, scale float64
		for i, v := range g {
			rhs += float64(v) * float64(src[i])
			scale += math.Abs(float64(v) * float64(src[i]))
		}
		if math.Abs(lhs-rhs) > 1e-5*math.Max(1, scale) {
			t.Errorf("case %d %+v: <Row x, dy> = %v, <x, RowAdjoint dy> = %v", k, tc, lhs, rhs)
		}
	}
}

func TestPanics(t *testing.T) {
	cases := map[string]func(){
		"short dst":  func() { Bilinear(make([]float32, 3), 2, 2, make([]float32, 4), 2, 2, 1) },
		"short src":  func() { Bilinear(make([]float32, 4), 2, 2, make([]float32, 3), 2, 2, 1) },
		"zero size":  func() { Bilinear(nil, 0, 2, make([]float32, 4), 2, 2, 1) },
		"axis range": func() { BilinearAxisRange(4, 8, 6, 3) },
		"axis empty": func() { BilinearAxis(0, 3) },
		"window dst": func() {
			Window(make([]float32, 5), 3, make([]float32, 4), 2, BilinearAxis(2, 2), BilinearAxis(2, 3), Weighted)
		},
		"window src": func() {
			Window(make([]float32, 9), 3, make([]float32, 2), 2, BilinearAxis(2, 3), BilinearAxis(2, 3), Weighted)
		},
		"bad form": func() {
			Row(make([]float32, 2), make([]float32, 2), make([]float32, 2), 0, BilinearAxis(2, 2), Form(9))
		},
		"window rows": func() {
			Window(make([]float32, 9), 2, make([]float32, 9), 3, BilinearAxis(3, 3), BilinearAxis(3, 3), Lerp)
		},
	}
	for name, f := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
