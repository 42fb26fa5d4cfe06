package synth

// camera is a pinhole camera at height camH metres above flat ground, looking
// along the street (+Z) without roll or pitch. World X is lateral (right
// positive), Z is depth and V is height above the ground, all in metres.
type camera struct {
	f      float64 // focal length in pixels
	xv, yh float64 // vanishing point (horizon row yh)
	camH   float64
}

// sx is the screen column of lateral position X at depth Z.
func (c *camera) sx(X, Z float64) float64 { return c.xv + c.f*X/Z }

// sy is the screen row of height V at depth Z.
func (c *camera) sy(V, Z float64) float64 { return c.yh + c.f*(c.camH-V)/Z }

// scale is the number of pixels per metre at depth Z.
func (c *camera) scale(Z float64) float64 { return c.f / Z }

// groundZ is the depth of the ground seen at screen row py (py > yh).
func (c *camera) groundZ(py float64) float64 { return c.f * c.camH / (py - c.yh) }

// height is the height V of the point at depth Z seen at screen row py.
func (c *camera) height(py, Z float64) float64 { return c.camH - (py-c.yh)*Z/c.f }

// wallZ is the depth at which the screen column px meets the vertical plane
// at lateral position X; ok is false when the plane is not seen there.
func (c *camera) wallZ(px, X float64) (Z float64, ok bool) {
	d := px - c.xv
	if d == 0 || (d < 0) != (X < 0) {
		return 0, false
	}
	return c.f * X / d, true
}
