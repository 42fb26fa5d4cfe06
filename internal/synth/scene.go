package synth

import (
	"image"
	"math"
	"math/rand/v2"
	"sort"
)

// Facade segment kinds.
const (
	segBuilding = iota
	segPark
	segGap
)

// segment is a stretch of one side of the street, between depths z0 and z1,
// behind the sidewalk (and verge).
type segment struct {
	z0, z1 float64
	kind   int
	height float64 // building height or mean canopy height
	base   rgb     // wall or leaf colour
	// Building windows.
	floorH, winW, winH, pitch, offset float64
	glass, frame                      rgb
	shop                              bool
	// Park canopy outline.
	amp, freq, phase float64
	seed             uint32
}

// object is anything painted over the background, in order of decreasing depth.
type object struct {
	z     float64
	paint func()
}

// scene is the sampled layout of one image and the canvas it is painted on.
type scene struct {
	rng  *rand.Rand
	cam  camera
	cv   *canvas
	h, w int
	seed uint32

	road, walk, verge [2]float64 // half widths (metres) per side: 0 left, 1 right
	lanes             []float64  // X of dashed lane markings
	edgeLines         bool
	crossZ            float64 // crosswalk start depth, 0 for none
	green             float64 // 0..1: how leafy the street is
	segs              [2][]segment
	farZ              float64
	far               *segment

	asphalt  rgb
	walkCol  [2]rgb
	tileSize [2]float64
	soil     [2]rgb
	grass    [2]bool

	sunny    bool
	shadowSd int     // side whose buildings cast shadows onto the street
	shadowK  float64 // shadow length per metre of building height
	facLight [2]float64
	skyTop   rgb
	skyHor   rgb
	clouds   float64
	haze     float64

	objects []object
}

func sign(side int) float64 {
	if side == 0 {
		return -1
	}
	return 1
}

func (s *scene) u(lo, hi float64) float64 { return lo + (hi-lo)*s.rng.Float64() }

func (s *scene) jitter(c rgb, sd float64) rgb {
	return rgb{c[0] + s.rng.NormFloat64()*sd, c[1] + s.rng.NormFloat64()*sd, c[2] + s.rng.NormFloat64()*sd}
}

func (s *scene) pick(p []rgb) rgb { return p[s.rng.IntN(len(p))] }

func (s *scene) facadeX(side int) float64 {
	return sign(side) * (s.road[side] + s.walk[side] + s.verge[side])
}

// Colour palettes (0..255, before lighting). Several deliberately overlap
// across classes: greys (road, sidewalk, building, pole, car), greens
// (vegetation, terrain, fence, clothing), whites (sky, building, car, signs).
var (
	wallColours  = []rgb{{190, 172, 140}, {135, 133, 130}, {150, 85, 65}, {205, 203, 196}, {112, 84, 66}, {200, 185, 120}, {150, 160, 170}, {175, 120, 95}, {95, 95, 100}}
	leafColours  = []rgb{{55, 90, 40}, {70, 105, 45}, {45, 75, 40}, {90, 110, 50}, {110, 105, 50}, {60, 85, 55}}
	walkColours  = []rgb{{150, 150, 146}, {170, 158, 135}, {150, 112, 100}, {118, 118, 118}, {135, 128, 120}}
	soilColours  = []rgb{{96, 118, 62}, {110, 125, 70}, {132, 112, 82}, {120, 120, 80}}
	carColours   = []rgb{{215, 215, 212}, {25, 25, 28}, {165, 168, 172}, {95, 97, 100}, {160, 30, 30}, {35, 60, 130}, {40, 70, 50}, {200, 170, 40}, {185, 170, 140}, {215, 215, 212}, {25, 25, 28}, {165, 168, 172}}
	clothColours = []rgb{{25, 25, 30}, {40, 45, 70}, {90, 90, 95}, {160, 160, 160}, {200, 200, 195}, {140, 40, 40}, {50, 90, 60}, {120, 95, 70}, {60, 100, 160}, {190, 160, 60}, {30, 30, 35}, {45, 50, 80}}
	skinColours  = []rgb{{230, 190, 160}, {200, 150, 115}, {150, 100, 70}, {95, 65, 45}}
	poleColours  = []rgb{{130, 132, 135}, {100, 102, 105}, {45, 60, 50}, {35, 35, 38}, {160, 160, 155}}
	bikeColours  = []rgb{{25, 25, 28}, {160, 30, 30}, {40, 60, 140}, {180, 180, 180}, {40, 80, 50}}
)

// newScene samples the layout of one image.
func newScene(rng *rand.Rand, h, w int) *scene {
	s := &scene{rng: rng, h: h, w: w, cv: newCanvas(h, w), seed: rng.Uint32()}
	s.cam = camera{
		f:    float64(w) * s.u(0.85, 1.1),
		xv:   float64(w) * s.u(0.38, 0.62),
		yh:   float64(h) * s.u(0.36, 0.48),
		camH: s.u(1.3, 1.7),
	}
	s.green = math.Pow(rng.Float64(), 1.3)
	s.road = [2]float64{s.u(3.5, 8), s.u(1.5, 4.5)}
	if rng.IntN(4) == 0 { // one-way street, camera closer to the middle
		s.road = [2]float64{s.u(2.5, 5), s.u(2.5, 5)}
	}
	for side := range 2 {
		s.walk[side] = s.u(1.8, 4.5)
		if rng.Float64() < 0.25+0.5*s.green {
			s.verge[side] = s.u(1, 4)
		}
		s.walkCol[side] = s.jitter(s.pick(walkColours), 8)
		s.tileSize[side] = s.u(0.3, 0.7)
		s.soil[side] = s.jitter(s.pick(soilColours), 8)
		s.grass[side] = rng.Float64() < 0.7
	}
	if rng.IntN(3) == 0 { // same paving both sides
		s.walkCol[1], s.tileSize[1] = s.walkCol[0], s.tileSize[0]
	}
	width := s.road[0] + s.road[1]
	nl := int(math.Round(width / 3.3))
	for i := 1; i < nl; i++ {
		s.lanes = append(s.lanes, -s.road[0]+float64(i)*width/float64(nl))
	}
	s.edgeLines = rng.Float64() < 0.5
	if rng.Float64() < 0.25 {
		s.crossZ = s.u(7, 25)
	}
	g := s.u(70, 112)
	s.asphalt = s.jitter(rgb{g, g, g * s.u(0.98, 1.08)}, 3)

	s.farZ = 1e9
	if rng.Float64() < 0.7 {
		s.farZ = s.u(70, 220)
		sg := s.newSegment(s.farZ, s.farZ+10)
		if sg.kind == segGap {
			sg = s.newBuilding(s.farZ, s.farZ+10)
		}
		s.far = &sg
	}
	for side := range 2 {
		z := 0.5
		for z < math.Min(s.farZ, 400) {
			var sg segment
			if rng.Float64() < 0.12 {
				sg = segment{z0: z, z1: z + s.u(3, 12), kind: segGap}
			} else {
				sg = s.newSegment(z, 0)
			}
			s.segs[side] = append(s.segs[side], sg)
			z = sg.z1
		}
	}

	s.sunny = rng.Float64() < 0.6
	s.shadowSd = rng.IntN(2)
	s.shadowK = s.u(0.3, 1.2)
	if s.sunny {
		s.facLight[s.shadowSd] = s.u(0.62, 0.8)
		s.facLight[1-s.shadowSd] = s.u(1.0, 1.12)
		s.skyTop = s.jitter(rgb{75, 125, 205}, 12)
		s.skyHor = s.jitter(rgb{175, 200, 228}, 8)
		s.clouds = s.u(0, 0.6)
	} else {
		s.facLight = [2]float64{s.u(0.85, 0.95), s.u(0.85, 0.95)}
		g := s.u(175, 225)
		s.skyTop = s.jitter(rgb{g - 10, g - 5, g + 5}, 5)
		s.skyHor = s.jitter(rgb{g + 8, g + 8, g + 10}, 4)
		s.clouds = s.u(0.3, 1)
	}
	s.haze = s.u(0, 0.35)
	s.addObjects()
	return s
}

// newSegment samples a building or park stretch starting at z0; z1 = 0 draws
// its length.
func (s *scene) newSegment(z0, z1 float64) segment {
	if s.rng.Float64() < 0.12+0.6*s.green {
		if z1 == 0 {
			z1 = z0 + s.u(10, 45)
		}
		return segment{
			z0: z0, z1: z1, kind: segPark, height: s.u(5, 13),
			base: s.jitter(s.pick(leafColours), 6),
			amp:  s.u(0.5, 3), freq: s.u(0.1, 0.4), phase: s.u(0, 6), seed: s.rng.Uint32(),
		}
	}
	if z1 == 0 {
		z1 = z0 + s.u(8, 30)
	}
	return s.newBuilding(z0, z1)
}

func (s *scene) newBuilding(z0, z1 float64) segment {
	sg := segment{
		z0: z0, z1: z1, kind: segBuilding, height: s.u(7, 26),
		base:   s.jitter(s.pick(wallColours), 10),
		floorH: s.u(2.8, 3.6), winW: s.u(0.7, 1.6), winH: s.u(1.1, 1.8), pitch: s.u(2, 3.6),
		offset: s.u(0, 3), shop: s.rng.Float64() < 0.5, seed: s.rng.Uint32(),
	}
	sg.winW = math.Min(sg.winW, sg.pitch-0.4)
	sg.winH = math.Min(sg.winH, sg.floorH-0.7)
	sg.glass = s.jitter(rgb{50, 58, 72}, 10)
	sg.frame = s.jitter(rgb{215, 212, 205}, 10)
	if s.rng.IntN(2) == 0 {
		sg.frame = sg.base.scale(0.8)
	}
	return sg
}

// segAt returns the segment of a side at depth z, or nil.
func (s *scene) segAt(side int, z float64) *segment {
	sg := s.segs[side]
	i := sort.Search(len(sg), func(i int) bool { return sg[i].z1 > z })
	if i < len(sg) && sg[i].z0 <= z {
		return &sg[i]
	}
	return nil
}

// top is the height of a segment's silhouette at position u along it.
func (sg *segment) top(u float64) float64 {
	if sg.kind == segPark {
		return sg.height + sg.amp*math.Sin(sg.freq*u+sg.phase) + 0.8*sg.amp*fbm(u*0.3, 0, sg.seed, 2)
	}
	return sg.height
}

// facadeColour shades a building or park at position u along it, height v,
// screen pixel (x, y).
func (s *scene) facadeColour(sg *segment, u, v float64, x, y int) rgb {
	if sg.kind == segPark {
		return s.leaves(sg.base, u, v, x, y, sg.seed)
	}
	c := sg.base.add(6*fbm(u*2, v*2, sg.seed, 2) + 4*white(x, y, sg.seed))
	if v > sg.height-0.5 {
		return c.scale(0.75) // cornice
	}
	if sg.shop && v < sg.floorH {
		if v > 0.3 && v < sg.floorH-0.5 && frac((u+sg.offset)/(2*sg.pitch)) < 0.8 {
			return sg.glass.add(25*(v/sg.floorH) + 5*white(x, y, sg.seed+1))
		}
		return c.scale(0.85)
	}
	fu := frac((u + sg.offset) / sg.pitch)
	fv := frac(v / sg.floorH)
	hw := sg.winW / sg.pitch / 2
	lo, hi := 0.32, 0.32+sg.winH/sg.floorH
	if v > sg.floorH*0.9 && math.Abs(fu-0.5) < hw && fv > lo && fv < hi {
		// Frame 8 cm wide, glass inside: dark, sky-reflecting or lit.
		if math.Abs(fu-0.5) > hw-0.08/sg.pitch || fv < lo+0.08/sg.floorH || fv > hi-0.08/sg.floorH {
			return sg.frame
		}
		k := cell((u+sg.offset)/sg.pitch, v/sg.floorH, sg.seed+7)
		switch {
		case k > 0.7:
			return s.skyHor.scale(0.8).add(10 * fv)
		case k < -0.93:
			return rgb{200, 180, 120}
		}
		return sg.glass.add(15 * (fv - lo) / (hi - lo))
	}
	return c
}

// leaves is the foliage texture: strong blotchy contrast with dark holes.
func (s *scene) leaves(base rgb, u, v float64, x, y int, seed uint32) rgb {
	n := fbm(u*3, v*3, seed, 3)
	c := base.scale(1 + 0.35*n).add(10 * white(x, y, seed+3))
	if fbm(u*5+7, v*5, seed+11, 2) < -0.35 {
		c = c.scale(0.5)
	}
	return c
}

// paintSky labels the whole canvas sky. The sky colour is computed later,
// only for the pixels that stay uncovered (see skyColour and canvas.pending).
func (s *scene) paintSky() {
	for i := range s.cv.label {
		s.cv.label[i] = Sky
		s.cv.pending[i] = true
	}
}

// skyColour is the colour of the sky at pixel (x, y): a vertical gradient
// with clouds.
func (s *scene) skyColour(x, y int) rgb {
	t := clamp(float64(y)/s.cam.yh, 0, 1)
	c := s.skyTop.mix(s.skyHor, t*t)
	n := fbm(float64(x)/90, float64(y)/40, s.seed+21, 4)
	if n > 0.6-s.clouds {
		k := clamp((n-(0.6-s.clouds))*3, 0, 0.9)
		c = c.mix(rgb{235, 235, 235}.add(-30*fbm(float64(x)/20, float64(y)/12, s.seed+22, 2)), k)
	}
	return c.add(1.5 * white(x, y, s.seed+23))
}

// colour returns the unlit colour of pixel i, resolving pending sky.
func (s *scene) colour(i int) rgb {
	if s.cv.pending[i] {
		s.cv.pending[i] = false
		s.cv.col[i] = s.skyColour(i%s.w, i/s.w)
	}
	return s.cv.col[i]
}

// paintGround fills every row below the horizon with road, sidewalk and
// terrain, and darkens cast shadows.
func (s *scene) paintGround() {
	y0, _ := s.cv.rows(s.cam.yh, float64(s.h))
	for y := y0; y < s.h; y++ {
		py := float64(y) + 0.5
		if py <= s.cam.yh+0.01 {
			continue
		}
		Z := s.cam.groundZ(py)
		for x := range s.w {
			X := (float64(x) + 0.5 - s.cam.xv) * Z / s.cam.f
			side := 0
			if X >= 0 {
				side = 1
			}
			a := math.Abs(X)
			i := y*s.w + x
			s.cv.pending[i] = false
			var cls uint8
			var c rgb
			switch {
			case a <= s.road[side]:
				cls, c = Road, s.roadColour(X, Z, x, y)
			case a <= s.road[side]+s.walk[side]:
				cls, c = Sidewalk, s.walkColour(side, a-s.road[side], Z, x, y)
			default:
				cls, c = Terrain, s.terrainColour(side, X, Z, x, y)
			}
			s.cv.label[i], s.cv.col[i] = cls, c
			if s.sunny {
				sd := s.shadowSd
				dist := math.Abs(s.facadeX(sd)) - X*sign(sd)
				if sg := s.segAt(sd, Z); sg != nil && sg.kind != segGap && dist < sg.height*s.shadowK {
					s.cv.light[i] *= 0.55
				}
			}
		}
	}
}

func (s *scene) roadColour(X, Z float64, x, y int) rgb {
	c := s.asphalt.add(9*fbm(X*1.5, Z*1.5, s.seed+31, 3) + 7*white(x, y, s.seed+32))
	if vnoise(X*0.25, Z*0.12, s.seed+33) > 0.55 {
		c = c.scale(0.85) // repaired patch
	}
	paint := false
	for _, l := range s.lanes {
		if math.Abs(X-l) < 0.08 && frac(Z/9) < 0.35 {
			paint = true
		}
	}
	if s.edgeLines && (math.Abs(X+s.road[0]-0.3) < 0.08 || math.Abs(X-s.road[1]+0.3) < 0.08) {
		paint = true
	}
	if s.crossZ > 0 && Z > s.crossZ && Z < s.crossZ+3.5 && frac(X/1.0) < 0.5 {
		paint = true
	}
	if paint {
		wear := clamp(0.85+0.3*fbm(X*3, Z*3, s.seed+34, 2), 0, 1)
		c = c.mix(rgb{215, 215, 208}, wear)
	}
	return c
}

func (s *scene) walkColour(side int, d, Z float64, x, y int) rgb {
	c := s.walkCol[side]
	if d < 0.18 {
		return c.add(20 + 5*white(x, y, s.seed+41)) // kerb stones
	}
	t := s.tileSize[side]
	c = c.add(8*cell(d/t, Z/t, s.seed+42) + 5*white(x, y, s.seed+43) + 5*fbm(d, Z, s.seed+44, 2))
	if frac(d/t) < 0.06 || frac(Z/t) < 0.06 {
		c = c.scale(0.82)
	}
	return c
}

func (s *scene) terrainColour(side int, X, Z float64, x, y int) rgb {
	c := s.soil[side]
	k := 0.12
	if s.grass[side] {
		k = 0.2
	}
	return c.scale(1 + k*fbm(X*4, Z*4, s.seed+51, 3)).add(8 * white(x, y, s.seed+52))
}

// paintFacades fills, column by column, the buildings and parks along both
// sides and across the far end of the street.
func (s *scene) paintFacades() {
	for x := range s.w {
		px := float64(x) + 0.5
		side := 0
		if px >= s.cam.xv {
			side = 1
		}
		X := s.facadeX(side)
		Z, ok := s.cam.wallZ(px, X)
		var sg *segment
		u := Z
		if ok && Z < s.farZ {
			sg = s.segAt(side, Z)
		} else if s.far != nil {
			sg, Z, u = s.far, s.farZ, (px-s.cam.xv)*s.farZ/s.cam.f
			ok = true
		}
		if !ok || sg == nil || sg.kind == segGap || Z < 0.3 {
			continue
		}
		ya, yb := s.cv.rows(s.cam.sy(sg.top(u), Z), s.cam.sy(0, Z))
		light := s.facLight[side]
		if sg == s.far {
			light = 0.9
		}
		for y := ya; y < yb; y++ {
			v := s.cam.height(float64(y)+0.5, Z)
			i := y*s.w + x
			s.cv.pending[i] = false
			s.cv.label[i] = Building
			if sg.kind == segPark {
				s.cv.label[i] = Vegetation
			}
			s.cv.col[i] = s.facadeColour(sg, u, v, x, y)
			s.cv.light[i] = light
		}
	}
}

// render paints the scene and returns the image and its label map.
func (s *scene) render() (*image.RGBA, *image.Gray) {
	s.paintSky()
	s.paintGround()
	s.paintFacades()
	sort.SliceStable(s.objects, func(i, j int) bool { return s.objects[i].z > s.objects[j].z })
	for _, o := range s.objects {
		o.paint()
	}
	return s.finish()
}

// finish applies lighting, haze, vignetting, blur and sensor noise, and
// quantises.
func (s *scene) finish() (*image.RGBA, *image.Gray) {
	h, w := s.h, s.w
	gain := s.u(0.75, 1.2)
	cast := rgb{s.u(0.92, 1.08), s.u(0.95, 1.05), s.u(0.92, 1.08)}
	hazeC := s.skyHor.mix(rgb{200, 200, 200}, 0.5)
	buf := make([]rgb, h*w)
	for y := range h {
		hz := s.haze * math.Exp(-math.Abs(float64(y)-s.cam.yh)/(0.12*float64(h)))
		for x := range w {
			i := y*w + x
			dx := (float64(x)/float64(w) - 0.5) * 2
			dy := (float64(y)/float64(h) - 0.5) * 2
			vig := 1 - 0.12*(dx*dx+dy*dy)
			c := s.colour(i).scale(s.cv.light[i]).mix(hazeC, hz)
			for k := range 3 {
				buf[i][k] = c[k] * gain * cast[k] * vig
			}
		}
	}
	// Separable [1 2 1]/4 blur (camera optics), clamped at the borders.
	tmp := make([]rgb, h*w)
	for y := range h {
		for x := range w {
			l, r := max(x-1, 0), min(x+1, w-1)
			for k := range 3 {
				tmp[y*w+x][k] = (buf[y*w+l][k] + 2*buf[y*w+x][k] + buf[y*w+r][k]) / 4
			}
		}
	}
	// Sensor noise: uniform on [-a, a) with a = 1.7 sd, so its standard
	// deviation is about sd grey levels.
	sd := s.u(2, 5) * 1.7 / 512
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	lab := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		u, d := max(y-1, 0), min(y+1, h-1)
		row := img.Pix[y*img.Stride:]
		for x := range w {
			i := y*w + x
			// One hash gives three 10-bit uniform noise values, one per channel.
			n := hash2(int32(x), int32(y), s.seed+61)
			for k := range 3 {
				e := float64(int32(n>>(10*k))&1023-512) * sd
				v := (tmp[u*w+x][k]+2*tmp[i][k]+tmp[d*w+x][k])/4 + e + 0.5
				switch {
				case v <= 0:
					row[4*x+k] = 0
				case v >= 255:
					row[4*x+k] = 255
				default:
					row[4*x+k] = uint8(v)
				}
			}
			row[4*x+3] = 255
		}
		copy(lab.Pix[y*lab.Stride:y*lab.Stride+w], s.cv.label[y*w:(y+1)*w])
	}
	return img, lab
}
