package synth

import "math"

// addObjects samples trees, poles with lamps and signs, fences, cars, people
// and bicycles.
func (s *scene) addObjects() {
	rng := s.rng
	zmax := math.Min(s.farZ, 120)
	for side := range 2 {
		sg := sign(side)
		kerb := sg * (s.road[side] + 0.45)
		// Trees on the verge, or at the back of the sidewalk.
		pTree := 0.1 + 0.8*s.green
		tx := sg * (s.road[side] + s.walk[side] - 0.8)
		if s.verge[side] > 0 {
			tx = sg * (s.road[side] + s.walk[side] + s.verge[side]/2)
		} else {
			pTree *= 0.6
		}
		leaf := s.jitter(s.pick(leafColours), 6)
		for z := s.u(2, 10); z < zmax; z += s.u(6, 16) {
			if rng.Float64() < pTree {
				s.tree(tx+s.u(-0.3, 0.3), z, leaf)
			}
		}
		// Poles along the kerb: street lamps, sign posts and plain poles.
		pc := s.pick(poleColours)
		lampH := s.u(5, 8)
		for z := s.u(2, 15); z < zmax; z += s.u(10, 28) {
			switch k := rng.Float64(); {
			case k < 0.45:
				s.lamp(kerb, z, lampH, pc, side)
			case k < 0.85:
				s.signPost(kerb+sg*s.u(0, 0.5), z)
			default:
				s.pole(kerb, z, s.u(2.5, 4), s.u(0.08, 0.15), s.pick(poleColours))
			}
		}
		// Fences in front of parks and gaps, and along the verge.
		for _, seg := range s.segs[side] {
			if seg.kind != segBuilding && rng.Float64() < 0.55 && seg.z0 < zmax {
				s.fence(s.facadeX(side)-sg*0.2, seg.z0, seg.z1)
			}
		}
		if s.verge[side] > 0 && rng.Float64() < 0.3 {
			z0 := s.u(3, 30)
			s.fence(sg*(s.road[side]+s.walk[side]+0.1), z0, z0+s.u(5, 40))
		}
		// Parked cars in a row along the kerb.
		if rng.Float64() < 0.5 {
			x := sg * (s.road[side] - 1.1)
			for z := s.u(3, 15); z < 70; {
				l := s.u(3.8, 4.9)
				if rng.Float64() < 0.6 {
					s.car(x+s.u(-0.15, 0.15), z, l)
				}
				z += l + s.u(0.6, 6)
			}
		}
	}
	// Moving cars in the lanes.
	for range rng.IntN(4) {
		lane := -s.road[0] + 1.6 + s.rng.Float64()*math.Max(s.road[0]+s.road[1]-3.2, 0)
		s.car(lane, s.u(6, 60), s.u(3.8, 4.9))
	}
	// People, mostly on the sidewalks, a few crossing.
	crowd := math.Pow(rng.Float64(), 1.5) * 10
	for range int(crowd) + rng.IntN(2) {
		side := rng.IntN(2)
		x := sign(side) * (s.road[side] + s.u(0.3, s.walk[side]-0.2))
		if rng.Float64() < 0.1 {
			x = s.u(-s.road[0], s.road[1])
		}
		s.person(x, s.u(3, 45), 0)
	}
	// Bicycles: parked on the sidewalk or ridden at the road edge.
	for range []int{0, 0, 1, 1, 1, 2, 2, 3}[rng.IntN(8)] {
		side := rng.IntN(2)
		z := s.u(3, 30)
		if rng.Float64() < 0.4 {
			s.bicycle(sign(side)*(s.road[side]-0.6), z, true)
		} else {
			s.bicycle(sign(side)*(s.road[side]+s.u(0.4, s.walk[side]-0.4)), z, false)
		}
	}
}

func (s *scene) add(z float64, f func()) {
	if z > 0.8 {
		s.objects = append(s.objects, object{z: z, paint: f})
	}
}

// flat returns a shader of one colour with pixel noise.
func (s *scene) flat(c rgb, noise float64, seed uint32) shader {
	return func(x, y int) rgb { return c.add(noise * white(x, y, seed)) }
}

// tree paints a trunk and a canopy of overlapping discs.
func (s *scene) tree(X, Z float64, leaf rgb) {
	trunk := s.u(1.8, 3.5)
	r := s.u(1.4, 3.2)
	type disc struct{ x, v, r float64 }
	var ds []disc
	for range 5 + s.rng.IntN(6) {
		ds = append(ds, disc{X + s.u(-0.7, 0.7)*r, trunk + r + s.u(-0.5, 0.6)*r, r * s.u(0.45, 0.75)})
	}
	bark := s.jitter(rgb{80, 70, 60}, 8)
	seed := s.rng.Uint32()
	leafC := s.jitter(leaf, 8)
	s.add(Z, func() {
		c, k := &s.cam, s.cam.scale(Z)
		s.cv.rect(c.sx(X-0.15, Z), c.sy(trunk+r*0.5, Z), c.sx(X+0.15, Z), c.sy(0, Z), Vegetation,
			func(x, y int) rgb {
				return bark.add(12*vnoise(float64(x)*0.7, float64(y)*0.05, seed) + 5*white(x, y, seed))
			})
		sh := func(x, y int) rgb {
			return s.leaves(leafC, (float64(x)-c.xv)/k, c.height(float64(y)+0.5, Z), x, y, seed)
		}
		for _, d := range ds {
			s.cv.ellipse(c.sx(d.x, Z), c.sy(d.v, Z), d.r*k, d.r*k, Vegetation, sh)
		}
	})
}

// pole paints a vertical cylinder of height ph and diameter d.
func (s *scene) pole(X, Z, ph, d float64, col rgb) {
	seed := s.rng.Uint32()
	s.add(Z, func() {
		c := &s.cam
		x0, x1 := c.sx(X-d/2, Z), c.sx(X+d/2, Z)
		mid, half := (x0+x1)/2, math.Max((x1-x0)/2, 0.5)
		s.cv.rect(x0, c.sy(ph, Z), x1, c.sy(0, Z), Pole, func(x, y int) rgb {
			t := clamp((float64(x)+0.5-mid)/half, -1, 1)
			return col.scale(0.75 + 0.45*math.Cos(t*1.2-0.4)).add(4 * white(x, y, seed))
		})
	})
}

// lamp paints a street lamp: a pole with an arm over the road and a head.
func (s *scene) lamp(X, Z, ph float64, col rgb, side int) {
	s.pole(X, Z, ph, s.u(0.12, 0.22), col)
	arm := s.u(0.8, 2)
	dir := -sign(side)
	seed := s.rng.Uint32()
	hasSign := s.rng.Float64() < 0.25
	s.add(Z-0.01, func() {
		c := &s.cam
		sh := s.flat(col.scale(0.9), 4, seed)
		s.cv.line(c.sx(X, Z), c.sy(ph-0.2, Z), c.sx(X+dir*arm, Z), c.sy(ph, Z), 0.08*c.scale(Z), Pole, sh)
		s.cv.ellipse(c.sx(X+dir*arm, Z), c.sy(ph-0.1, Z), 0.3*c.scale(Z), 0.12*c.scale(Z), Pole, s.flat(rgb{200, 200, 190}, 5, seed))
	})
	if hasSign {
		s.signAt(X, Z-0.02, s.u(2.3, 3))
	}
}

// signPost paints a thin post with one or two signs.
func (s *scene) signPost(X, Z float64) {
	top := s.u(2.4, 3.4)
	s.pole(X, Z, top, s.u(0.06, 0.1), s.pick(poleColours[:2]))
	s.signAt(X, Z-0.01, top-0.35)
	if s.rng.Float64() < 0.35 {
		s.signAt(X, Z-0.02, top-1.1)
	}
}

// signAt paints a traffic sign of about 0.6 m centred at height v.
func (s *scene) signAt(X, Z, v float64) {
	size := s.u(0.45, 0.8)
	kind := s.rng.IntN(6)
	back := s.rng.Float64() < 0.2
	seed := s.rng.Uint32()
	red, white_, blue, yellow := rgb{190, 30, 35}, rgb{230, 230, 225}, rgb{30, 70, 160}, rgb{230, 190, 30}
	s.add(Z, func() {
		c := &s.cam
		k := c.scale(Z)
		cx, cy, r := c.sx(X, Z), c.sy(v, Z), size*k/2
		if back {
			s.cv.rect(cx-r, cy-r, cx+r, cy+r, Sign, s.flat(rgb{140, 140, 140}, 6, seed))
			return
		}
		switch kind {
		case 0: // prohibition: red ring, white inside
			s.cv.ellipse(cx, cy, r, r, Sign, s.flat(red, 6, seed))
			s.cv.ellipse(cx, cy, r*0.7, r*0.7, Sign, s.flat(white_, 6, seed))
		case 1: // mandatory: blue disc with a white mark
			s.cv.ellipse(cx, cy, r, r, Sign, s.flat(blue, 6, seed))
			s.cv.rect(cx-r*0.15, cy-r*0.5, cx+r*0.15, cy+r*0.5, Sign, s.flat(white_, 6, seed))
		case 2: // warning: white triangle with red border
			s.cv.polygon([]float64{cx - r, cx + r, cx}, []float64{cy + r*0.8, cy + r*0.8, cy - r}, Sign, s.flat(red, 6, seed))
			s.cv.polygon([]float64{cx - r*0.6, cx + r*0.6, cx}, []float64{cy + r*0.55, cy + r*0.55, cy - r*0.45}, Sign, s.flat(white_, 6, seed))
		case 3: // priority road: yellow diamond with white border
			s.cv.polygon([]float64{cx - r, cx, cx + r, cx}, []float64{cy, cy - r, cy, cy + r}, Sign, s.flat(white_, 6, seed))
			s.cv.polygon([]float64{cx - r*0.6, cx, cx + r*0.6, cx}, []float64{cy, cy - r*0.6, cy, cy + r*0.6}, Sign, s.flat(yellow, 6, seed))
		case 4: // information: blue square
			s.cv.rect(cx-r, cy-r, cx+r, cy+r, Sign, s.flat(blue, 6, seed))
			s.cv.rect(cx-r*0.3, cy-r*0.6, cx+r*0.3, cy+r*0.2, Sign, s.flat(white_, 6, seed))
		default: // direction: wide white plate with dark text lines
			s.cv.rect(cx-1.8*r, cy-r*0.6, cx+1.8*r, cy+r*0.6, Sign, func(x, y int) rgb {
				if frac((float64(y)-cy)/(0.4*r)) < 0.35 && math.Abs(float64(x)-cx) < 1.4*r {
					return rgb{40, 40, 45}
				}
				return white_.add(5 * white(x, y, seed))
			})
		}
	})
}

// fence paints a fence of metal bars, wooden slats or mesh in the vertical
// plane at lateral X between depths z0 and z1. Gaps darken what is behind but
// are labelled fence.
func (s *scene) fence(X, z0, z1 float64) {
	h := s.u(0.9, 1.8)
	kind := s.rng.IntN(3)
	col := []rgb{s.jitter(rgb{60, 62, 65}, 10), s.jitter(rgb{120, 90, 60}, 10), s.jitter(rgb{140, 145, 140}, 10)}[kind]
	if kind == 0 && s.rng.IntN(3) == 0 {
		col = rgb{40, 70, 50}
	}
	period := []float64{0.15, 0.12, 0.1}[kind]
	duty := []float64{0.35, 0.8, 0.2}[kind]
	seed := s.rng.Uint32()
	s.add(z0, func() {
		c := &s.cam
		xa, xb := s.cv.cols(math.Min(c.sx(X, z0), c.sx(X, z1)), math.Max(c.sx(X, z0), c.sx(X, z1)))
		for x := xa; x < xb; x++ {
			Z, ok := c.wallZ(float64(x)+0.5, X)
			if !ok || Z < z0 || Z > z1 {
				continue
			}
			ya, yb := s.cv.rows(c.sy(h, Z), c.sy(0, Z))
			for y := ya; y < yb; y++ {
				i := y*s.w + x
				v := c.height(float64(y)+0.5, Z)
				bar := frac(Z/period) < duty || v > h-0.08 || math.Abs(v-h*0.3) < 0.04
				if kind == 2 {
					bar = frac((Z+v)/period) < duty || frac((Z-v)/period) < duty || v > h-0.06
				}
				if bar {
					s.cv.col[i], s.cv.pending[i] = col.add(6*white(x, y, seed)), false
				} else {
					s.cv.col[i] = s.colour(i).scale(0.55)
				}
				s.cv.label[i] = Fence
			}
		}
	})
}

// car paints a car whose nearest face is at depth Z, centred at lateral X,
// with its length along the street: the visible side face, then the rear face,
// over a dark contact shadow on the ground.
func (s *scene) car(X, Z, length float64) {
	body := s.jitter(s.pick(carColours), 6)
	h := s.u(1.4, 1.6)
	if s.rng.Float64() < 0.15 {
		h = s.u(1.8, 2.1) // van
	}
	const half = 0.9
	seed := s.rng.Uint32()
	glass := s.jitter(rgb{40, 45, 55}, 8)
	// Roof line along the car: t in [0,1] from rear to front.
	top := func(t float64) float64 {
		switch {
		case t < 0.1:
			return 0.95
		case t < 0.25:
			return 0.95 + (h-0.95)*(t-0.1)/0.15
		case t < 0.75:
			return h
		case t < 0.9:
			return h - (h-0.95)*(t-0.75)/0.15
		}
		return 0.95 - 0.2*(t-0.9)/0.1
	}
	bodyShade := func(x, y int, v float64) rgb {
		switch {
		case v < 0.18:
			return rgb{30, 30, 32}
		case v < 0.4:
			return body.scale(0.7).add(4 * white(x, y, seed))
		case v > 0.97 && v < h-0.06:
			return glass.add(25*(v-0.97)/(h-1) + 4*white(x, y, seed))
		}
		hl := 0.0
		if math.Abs(v-0.85) < 0.04 {
			hl = 30 // crease highlight
		}
		return body.scale(0.9 + 0.15*(v/h)).add(hl + 4*white(x, y, seed))
	}
	s.add(Z, func() {
		c := &s.cam
		// Contact shadow on the ground.
		ya, yb := s.cv.rows(c.sy(0, Z+length), c.sy(0, Z-0.3))
		for y := ya; y < yb; y++ {
			zy := c.groundZ(float64(y) + 0.5)
			xa, xb := s.cv.cols(c.sx(X-half-0.25, zy), c.sx(X+half+0.25, zy))
			for x := xa; x < xb; x++ {
				s.cv.light[y*s.w+x] *= 0.5
			}
		}
		// Side face.
		sideX := 0.0
		switch {
		case X+half < -0.3:
			sideX = X + half
		case X-half > 0.3:
			sideX = X - half
		}
		if sideX != 0 {
			xa, xb := s.cv.cols(math.Min(c.sx(sideX, Z), c.sx(sideX, Z+length)), math.Max(c.sx(sideX, Z), c.sx(sideX, Z+length)))
			for x := xa; x < xb; x++ {
				zz, ok := c.wallZ(float64(x)+0.5, sideX)
				if !ok || zz < Z || zz > Z+length {
					continue
				}
				t := (zz - Z) / length
				ya, yb := s.cv.rows(c.sy(top(t), zz), c.sy(0.12, zz))
				for y := ya; y < yb; y++ {
					v := c.height(float64(y)+0.5, zz)
					sh := bodyShade(x, y, v)
					if v > 0.97 && v < h-0.06 && (t < 0.2 || t > 0.8 || math.Abs(t-0.5) < 0.03) {
						sh = body.scale(0.9)
					}
					i := y*s.w + x
					s.cv.label[i], s.cv.col[i], s.cv.light[i], s.cv.pending[i] = Car, sh, 1, false
				}
			}
			for _, t := range []float64{0.18, 0.8} {
				zw := Z + t*length
				rx := 0.33 * math.Abs(c.f*sideX) / (zw * zw)
				s.cv.ellipse(c.sx(sideX, zw), c.sy(0.32, zw), rx, 0.33*c.scale(zw), Car, s.flat(rgb{25, 25, 27}, 4, seed))
				s.cv.ellipse(c.sx(sideX, zw), c.sy(0.32, zw), rx*0.5, 0.16*c.scale(zw), Car, s.flat(rgb{150, 150, 150}, 6, seed))
			}
		}
		// Rear face, rows from roof to ground, cabin inset.
		ya, yb = s.cv.rows(c.sy(h, Z), c.sy(0, Z))
		for y := ya; y < yb; y++ {
			v := c.height(float64(y)+0.5, Z)
			in := 0.0
			if v > 0.95 {
				in = 0.12 + 0.2*(v-0.95)/(h-0.95)
			}
			xa, xb := s.cv.cols(c.sx(X-half+in, Z), c.sx(X+half-in, Z))
			for x := xa; x < xb; x++ {
				u := (float64(x) + 0.5 - c.xv) * Z / c.f
				sh := bodyShade(x, y, v)
				if v < 0.3 && math.Abs(u-X) < half-0.25 && v > 0.02 {
					sh = rgb{20, 20, 22} // under the body
				}
				if v > 0.7 && v < 0.85 && math.Abs(u-X) > half-0.3 {
					sh = rgb{170, 25, 25} // lamps
				}
				if v > 0.4 && v < 0.52 && math.Abs(u-X) < 0.26 {
					sh = rgb{225, 225, 220} // plate
				}
				i := y*s.w + x
				s.cv.label[i], s.cv.col[i], s.cv.light[i], s.cv.pending[i] = Car, sh, 1, false
			}
		}
	})
}

// person paints a standing or walking pedestrian at ground depth Z; lift
// raises the figure (a cyclist's seat).
func (s *scene) person(X, Z, lift float64) {
	hp := s.u(1.5, 1.9)
	shirt := s.jitter(s.pick(clothColours), 8)
	pants := s.jitter(s.pick(clothColours[:4]), 6)
	skin := s.jitter(s.pick(skinColours), 6)
	hair := s.jitter(rgb{40, 32, 28}, 8)
	stride := s.u(-0.25, 0.25)
	seed := s.rng.Uint32()
	s.add(Z, func() {
		c := &s.cam
		k := c.scale(Z)
		px := func(dx float64) float64 { return c.sx(X+dx, Z) }
		py := func(v float64) float64 { return c.sy(v+lift, Z) }
		leg := 0.47 * hp
		if lift > 0 {
			leg *= 0.6
		}
		ps := s.flat(pants, 5, seed)
		s.cv.line(px(-0.07), py(leg), px(-0.08-stride), py(0.05), 0.15*k, Person, ps)
		s.cv.line(px(0.07), py(leg), px(0.08+stride), py(0.05), 0.15*k, Person, ps)
		ss := func(x, y int) rgb {
			return shirt.scale(0.9 + 0.2*vnoise(float64(x)*0.5, float64(y)*0.5, seed)).add(4 * white(x, y, seed))
		}
		s.cv.rect(px(-0.2), py(0.83*hp), px(0.2), py(leg-0.04), Person, ss)
		s.cv.line(px(-0.22), py(0.8*hp), px(-0.26+stride/3), py(0.45*hp), 0.08*k, Person, ss)
		s.cv.line(px(0.22), py(0.8*hp), px(0.26-stride/3), py(0.45*hp), 0.08*k, Person, ss)
		s.cv.rect(px(-0.05), py(0.87*hp), px(0.05), py(0.82*hp), Person, s.flat(skin, 4, seed))
		r := 0.065 * hp * k
		s.cv.ellipse(px(0), py(0.93*hp), r*0.85, r, Person, s.flat(skin, 5, seed))
		s.cv.ellipse(px(0), py(0.95*hp), r*0.88, r*0.7, Person, s.flat(hair, 5, seed))
	})
}

// bicycle paints a bicycle in side view at depth Z, optionally ridden.
func (s *scene) bicycle(X, Z float64, ridden bool) {
	col := s.jitter(s.pick(bikeColours), 8)
	dir := 1.0
	if s.rng.IntN(2) == 0 {
		dir = -1
	}
	seed := s.rng.Uint32()
	s.add(Z, func() {
		c := &s.cam
		k := c.scale(Z)
		p := func(dx, v float64) (float64, float64) { return c.sx(X+dir*dx, Z), c.sy(v, Z) }
		tyre := s.flat(rgb{28, 28, 30}, 4, seed)
		frame := s.flat(col, 5, seed)
		const r = 0.34
		for _, hx := range []float64{-0.52, 0.52} {
			x, y := p(hx, r)
			s.cv.ring(x, y, r*k, 0.05*k, Bicycle, tyre)
		}
		line := func(a, b, c2, d float64, t float64, sh shader) {
			x0, y0 := p(a, b)
			x1, y1 := p(c2, d)
			s.cv.line(x0, y0, x1, y1, t*k, Bicycle, sh)
		}
		line(-0.52, r, -0.05, 0.3, 0.035, frame) // chain stay
		line(-0.05, 0.3, -0.2, 0.85, 0.035, frame)
		line(-0.52, r, -0.2, 0.85, 0.03, frame) // seat stay
		line(-0.2, 0.85, 0.38, 0.82, 0.035, frame)
		line(-0.05, 0.3, 0.38, 0.82, 0.04, frame)
		line(0.38, 0.82, 0.52, r, 0.035, frame)  // fork
		line(0.38, 0.82, 0.35, 1.0, 0.03, frame) // stem
		line(0.28, 1.0, 0.45, 1.0, 0.03, tyre)   // handlebar
		line(-0.28, 0.9, -0.12, 0.9, 0.05, tyre) // saddle
	})
	if ridden {
		s.person(X-dir*0.1, Z-0.01, 0.45)
	}
}
