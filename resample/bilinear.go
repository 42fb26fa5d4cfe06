package resample

import "fmt"

// Axis maps the samples of one output axis onto a source axis: output
// sample d is (1-L[d])*s[I0[d]] + L[d]*s[I1[d]] for source samples s.
// I0 is non-decreasing, I1[d] is I0[d]+1 or, at the upper edge, I0[d], and
// L[d] is 0 where I1[d] == I0[d].
type Axis struct {
	I0, I1 []int32
	L      []float32
}

// Len returns the number of output samples of a.
func (a Axis) Len() int { return len(a.L) }

// BilinearAxis returns the half-pixel (align_corners = false) map of out
// output samples onto in source samples. It panics unless in and out are
// positive.
func BilinearAxis(in, out int) Axis { return BilinearAxisRange(in, out, 0, out) }

// BilinearAxisRange returns output samples [o0, o0+n) of BilinearAxis(in,
// out) without computing the others. It panics unless in and out are
// positive and the range lies inside [0, out).
func BilinearAxisRange(in, out, o0, n int) Axis {
	if in < 1 || out < 1 || o0 < 0 || n < 0 || o0+n > out {
		panic(fmt.Sprintf("resample: axis of samples [%d, %d) of %d from %d", o0, o0+n, out, in))
	}
	m := Axis{I0: make([]int32, n), I1: make([]int32, n), L: make([]float32, n)}
	scale := float64(in) / float64(out)
	for j := range n {
		src := (float64(o0+j)+0.5)*scale - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(src)
		if i0 > in-1 {
			i0 = in - 1
		}
		i1 := i0 + 1
		if i1 > in-1 {
			i1 = in - 1
		}
		m.I0[j], m.I1[j] = int32(i0), int32(i1)
		if i1 != i0 {
			m.L[j] = float32(src - float64(i0))
		}
	}
	return m
}

// Form selects how a bilinear kernel rounds; both forms compute the same
// real-valued interpolation.
type Form uint8

const (
	// Weighted computes (1-l)*a + l*b on each axis, x first. It is the
	// form of graph.ResizeBilinear and of the Go side of ONNX parity
	// checks.
	Weighted Form = iota
	// Lerp computes a + l*(b-a) on each axis, x first. It is the form of
	// data's image augmentation.
	Lerp
)

// String returns the name of the form.
func (f Form) String() string {
	switch f {
	case Weighted:
		return "weighted"
	case Lerp:
		return "lerp"
	}
	return fmt.Sprintf("Form(%d)", uint8(f))
}

// Bilinear resizes channels planes of sh x sw values in src into planes of
// dh x dw values in dst with half-pixel bilinear interpolation in the
// Weighted form. It panics when the lengths do not match the sizes.
func Bilinear(dst []float32, dh, dw int, src []float32, sh, sw, channels int) {
	BilinearForm(dst, dh, dw, src, sh, sw, channels, Weighted)
}

// BilinearForm is Bilinear with the rounding form f.
func BilinearForm(dst []float32, dh, dw int, src []float32, sh, sw, channels int, f Form) {
	if dh < 1 || dw < 1 || sh < 1 || sw < 1 || channels < 0 || len(src) != channels*sh*sw || len(dst) != channels*dh*dw {
		panic(fmt.Sprintf("resample: Bilinear: lengths %d, %d do not match %dx%dx%d -> %dx%dx%d",
			len(src), len(dst), channels, sh, sw, channels, dh, dw))
	}
	ym, xm := BilinearAxis(sh, dh), BilinearAxis(sw, dw)
	for c := range channels {
		Window(dst[c*dh*dw:(c+1)*dh*dw], dw, src[c*sh*sw:(c+1)*sh*sw], sw, ym, xm, f)
	}
}

// Window writes into dst the ym.Len() x xm.Len() rectangle of one resized
// plane that the axis maps select (typically from BilinearAxisRange):
// output row y is dst[y*dstride:][:xm.Len()], interpolated from the source
// plane src of rows of sw values. It panics when dst or src is too short
// for the maps or dstride is smaller than the row length.
func Window(dst []float32, dstride int, src []float32, sw int, ym, xm Axis, f Form) {
	h, w := ym.Len(), xm.Len()
	if h == 0 || w == 0 {
		return
	}
	if sw < 1 || len(src)%sw != 0 || dstride < w || len(dst) < (h-1)*dstride+w ||
		int(ym.I1[h-1]) >= len(src)/sw || int(xm.I1[w-1]) >= sw {
		panic(fmt.Sprintf("resample: Window: %dx%d window with stride %d in %d values from %d rows of %d",
			h, w, dstride, len(dst), len(src)/max(sw, 1), sw))
	}
	for y := range h {
		r0 := src[int(ym.I0[y])*sw:][:sw]
		r1 := src[int(ym.I1[y])*sw:][:sw]
		Row(dst[y*dstride:][:w], r0, r1, ym.L[y], xm, f)
	}
}

// Row writes into dst (xm.Len() values) the output row that lies between
// source rows r0 and r1 with weight ly on r1, in the form f. r0 and r1 may
// be the same row. It panics when a tap lies outside the rows.
func Row(dst, r0, r1 []float32, ly float32, xm Axis, f Form) {
	switch f {
	case Weighted:
		rowWeighted(dst, r0, r1, ly, xm)
	case Lerp:
		rowLerp(dst, r0, r1, ly, xm)
	default:
		panic(fmt.Sprintf("resample: unknown form %d", f))
	}
}

func rowWeighted(dst, r0, r1 []float32, ly float32, xm Axis) {
	i0, i1, l := xm.I0[:len(dst)], xm.I1[:len(dst)], xm.L[:len(dst)]
	for x := range dst {
		x0, x1, lx := i0[x], i1[x], l[x]
		top := (1-lx)*r0[x0] + lx*r0[x1]
		bot := (1-lx)*r1[x0] + lx*r1[x1]
		dst[x] = (1-ly)*top + ly*bot
	}
}

func rowLerp(dst, r0, r1 []float32, ly float32, xm Axis) {
	i0, i1, l := xm.I0[:len(dst)], xm.I1[:len(dst)], xm.L[:len(dst)]
	for x := range dst {
		x0, x1, fx := i0[x], i1[x], l[x]
		top := r0[x0] + fx*(r0[x1]-r0[x0])
		bot := r1[x0] + fx*(r1[x1]-r1[x0])
		dst[x] = top + ly*(bot-top)
	}
}

// RowAdjoint adds into the source rows g0 and g1 the transpose of a
// Weighted Row applied to the output-row gradient dy (xm.Len() values):
// the gradient of sum(dy * Row(r0, r1)) with respect to r0 and r1. g0 and g1
// may be the same row.
func RowAdjoint(g0, g1, dy []float32, ly float32, xm Axis) {
	i0, i1, l := xm.I0[:len(dy)], xm.I1[:len(dy)], xm.L[:len(dy)]
	for x, v := range dy {
		x0, x1, lx := i0[x], i1[x], l[x]
		top, bot := (1-ly)*v, ly*v
		g0[x0] += (1 - lx) * top
		g0[x1] += lx * top
		g1[x0] += (1 - lx) * bot
		g1[x1] += lx * bot
	}
}
