package synth

import "math"

// rgb is a colour on the 0..255 scale before lighting and quantisation.
type rgb [3]float64

func (c rgb) scale(s float64) rgb { return rgb{c[0] * s, c[1] * s, c[2] * s} }
func (c rgb) add(v float64) rgb   { return rgb{c[0] + v, c[1] + v, c[2] + v} }
func (c rgb) mix(o rgb, t float64) rgb {
	return rgb{c[0] + (o[0]-c[0])*t, c[1] + (o[1]-c[1])*t, c[2] + (o[2]-c[2])*t}
}

// canvas holds the label map, the unlit colour and a light multiplier of one
// image. Pixels are sampled at their centres.
type canvas struct {
	h, w  int
	label []uint8
	col   []rgb
	light []float64
	// pending marks pixels whose colour is still the lazily computed sky.
	pending []bool
}

func newCanvas(h, w int) *canvas {
	c := &canvas{h: h, w: w, label: make([]uint8, h*w), col: make([]rgb, h*w), light: make([]float64, h*w), pending: make([]bool, h*w)}
	for i := range c.light {
		c.light[i] = 1
	}
	return c
}

// shader returns the colour of a primitive at pixel (x, y).
type shader func(x, y int) rgb

func (c *canvas) set(x, y int, cls uint8, s shader) {
	i := y*c.w + x
	c.label[i] = cls
	c.col[i] = s(x, y)
	c.pending[i] = false
}

// rows clips the half-open pixel row range covering [y0, y1) in continuous
// coordinates (a pixel is covered when its centre is inside).
func (c *canvas) rows(y0, y1 float64) (int, int) { return covered(y0, y1, c.h) }

// cols is rows for the columns.
func (c *canvas) cols(x0, x1 float64) (int, int) { return covered(x0, x1, c.w) }

// covered returns the half-open range of pixels in [0, n) whose centres lie in
// [v0, v1).
func covered(v0, v1 float64, n int) (int, int) {
	a := int(math.Ceil(v0 - 0.5))
	b := int(math.Ceil(v1 - 0.5))
	if a < 0 {
		a = 0
	}
	if b > n {
		b = n
	}
	return a, b
}

// thin widens an interval [a, b) to at least min pixels around its centre, so
// that thin structures stay visible.
func thin(a, b, min float64) (float64, float64) {
	if b-a < min {
		m := (a + b) / 2
		return m - min/2, m + min/2
	}
	return a, b
}

// rect fills the axis-aligned rectangle [x0,x1) x [y0,y1).
func (c *canvas) rect(x0, y0, x1, y1 float64, cls uint8, s shader) {
	x0, x1 = thin(x0, x1, 1)
	ya, yb := c.rows(y0, y1)
	xa, xb := c.cols(x0, x1)
	for y := ya; y < yb; y++ {
		for x := xa; x < xb; x++ {
			c.set(x, y, cls, s)
		}
	}
}

// ellipse fills the ellipse with centre (cx, cy) and radii rx, ry.
func (c *canvas) ellipse(cx, cy, rx, ry float64, cls uint8, s shader) {
	rx, ry = math.Max(rx, 0.5), math.Max(ry, 0.5)
	ya, yb := c.rows(cy-ry, cy+ry)
	xa, xb := c.cols(cx-rx, cx+rx)
	for y := ya; y < yb; y++ {
		dy := (float64(y) + 0.5 - cy) / ry
		for x := xa; x < xb; x++ {
			dx := (float64(x) + 0.5 - cx) / rx
			if dx*dx+dy*dy <= 1 {
				c.set(x, y, cls, s)
			}
		}
	}
}

// ring fills the annulus of radius r and thickness t around (cx, cy).
func (c *canvas) ring(cx, cy, r, t float64, cls uint8, s shader) {
	t = math.Max(t, 1)
	ro := r + t/2
	ya, yb := c.rows(cy-ro, cy+ro)
	xa, xb := c.cols(cx-ro, cx+ro)
	for y := ya; y < yb; y++ {
		dy := float64(y) + 0.5 - cy
		for x := xa; x < xb; x++ {
			dx := float64(x) + 0.5 - cx
			if math.Abs(math.Hypot(dx, dy)-r) <= t/2 {
				c.set(x, y, cls, s)
			}
		}
	}
}

// line fills the segment from (x0,y0) to (x1,y1) with thickness t.
func (c *canvas) line(x0, y0, x1, y1, t float64, cls uint8, s shader) {
	t = math.Max(t, 1)
	ya, yb := c.rows(math.Min(y0, y1)-t, math.Max(y0, y1)+t)
	xa, xb := c.cols(math.Min(x0, x1)-t, math.Max(x0, x1)+t)
	dx, dy := x1-x0, y1-y0
	l2 := dx*dx + dy*dy
	for y := ya; y < yb; y++ {
		py := float64(y) + 0.5
		for x := xa; x < xb; x++ {
			px := float64(x) + 0.5
			u := 0.0
			if l2 > 0 {
				u = clamp(((px-x0)*dx+(py-y0)*dy)/l2, 0, 1)
			}
			ex, ey := px-x0-u*dx, py-y0-u*dy
			if ex*ex+ey*ey <= t*t/4 {
				c.set(x, y, cls, s)
			}
		}
	}
}

// polygon fills a polygon given by its vertices (even-odd rule).
func (c *canvas) polygon(xs, ys []float64, cls uint8, s shader) {
	minY, maxY := math.Inf(1), math.Inf(-1)
	minX, maxX := math.Inf(1), math.Inf(-1)
	for i := range xs {
		minY, maxY = math.Min(minY, ys[i]), math.Max(maxY, ys[i])
		minX, maxX = math.Min(minX, xs[i]), math.Max(maxX, xs[i])
	}
	ya, yb := c.rows(minY, maxY)
	xa, xb := c.cols(minX, maxX)
	for y := ya; y < yb; y++ {
		py := float64(y) + 0.5
		for x := xa; x < xb; x++ {
			px := float64(x) + 0.5
			in := false
			for i, j := 0, len(xs)-1; i < len(xs); j, i = i, i+1 {
				if (ys[i] > py) != (ys[j] > py) && px < (xs[j]-xs[i])*(py-ys[i])/(ys[j]-ys[i])+xs[i] {
					in = !in
				}
			}
			if in {
				c.set(x, y, cls, s)
			}
		}
	}
}
