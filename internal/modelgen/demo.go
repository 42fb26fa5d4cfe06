package modelgen

import (
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// Demo backbone layout, exported so callers can name the parts of "features".
const (
	DemoFeature  = "features" // name of the feature tensor
	DemoStride   = 8          // its stride relative to the input
	DemoBase     = 27         // channels of one scale: colour 6, chroma 6, edges 7, textures 8
	DemoChannels = 3 * DemoBase
	DemoClasses  = 19 // classes of the fixed random classifier "logits"
	// DemoMinSize is the smallest input height and width the demo backbone accepts.
	DemoMinSize = 32
)

// Fixed gains that bring the groups of demo features to comparable scales
// (standard deviations of a few tenths on street-like images, like the colour
// channels), as a normalisation layer of a trained network would.
const (
	chromaGain  = 3
	edgeGain    = 4
	textureGain = 6
)

// DemoBackbone returns the demo's "pretrained" backbone: a complete
// segmentation model whose filters are designed by hand rather than learnt.
//
// Input "image" is float32 [batch,3,height,width], RGB normalised with Mean and
// Std on the 0..255 range; height and width must be at least DemoMinSize. All
// work after a 2x2 average pool happens at stride 2 or coarser:
//
//   - colour (6): R, G, B, luminance, red-green and blue-yellow opponents;
//   - chroma (6): rectified, thresholded opponents and very bright / very dark
//     luminance, so that a linear head can separate saturated hues (gain 3);
//   - edges (7): absolute horizontal and vertical Sobel responses on luminance
//     and both opponent channels, and the absolute Laplacian of luminance
//     (gain 4);
//   - textures (8): Gabor quadrature energies (|even| + |odd|) at 4
//     orientations on luminance at strides 2 and 4, two frequencies (gain 6).
//
// These 27 channels are averaged down to stride 8 ("base_s8") and joined by
// two context scales: a 7x7 mean at stride 8 and a 5x5 mean at stride 32
// (zero padded, so it also carries where the image border is) resized back
// bilinearly. The concatenation is "features", [batch,81,height/8,width/8].
// A fixed random 1x1 convolution turns it into DemoClasses "logits", the
// model's only output.
func DemoBackbone() *pb.ModelProto {
	rng := newRand(0xdec0)
	b := newBuilder("demo_backbone")
	b.g.Input = []*pb.ValueInfoProto{floatValue("image", symbol("batch"), fixed(3), symbol("height"), symbol("width"))}

	x2 := b.avgPool("image", "image_s2", 2, 2, 0, false)

	// Colour space at stride 2.
	axes := [6][3]float32{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, Luma, OppRG, OppBY}
	cw := make([]float32, 0, 18)
	for _, a := range axes {
		cw = append(cw, a[:]...)
	}
	col := b.conv(convSpec{Name: "color", Input: x2, Out: 6, In: 3, K: 1, Weight: cw, OutputTensor: "color_s2"})

	// Chroma: g * Relu(±RG - t), g * Relu(±BY - t), g * Relu(±L - 1).
	const t, g = 0.25, chromaGain
	chw := make([]float32, 6*6)
	chb := []float32{-t * g, -t * g, -t * g, -t * g, -g, -g}
	chw[0*6+4], chw[1*6+4] = g, -g
	chw[2*6+5], chw[3*6+5] = g, -g
	chw[4*6+3], chw[5*6+3] = g, -g
	ch := b.conv(convSpec{Name: "chroma", Input: col, Out: 6, In: 6, K: 1, Weight: chw, Bias: chb})
	ch = b.node("Relu", []string{ch}, "chroma_s2")

	// Edges.
	ew := make([]float32, 7*6*9)
	for i, c := range []int{3, 4, 5} {
		kernel3(ew, 6, 2*i, c, SobelX, edgeGain)
		kernel3(ew, 6, 2*i+1, c, SobelY, edgeGain)
	}
	kernel3(ew, 6, 6, 3, Laplace, edgeGain)
	ed := b.conv(convSpec{Name: "edges", Input: col, Out: 7, In: 6, K: 3, Pad: 1, Weight: ew})
	ed = b.node("Abs", []string{ed}, "edges_s2")

	// Gabor energies on luminance at strides 2 and 4 with the same bank.
	const gk = 9
	gw := make([]float32, 0, 8*gk*gk)
	for o := range 4 {
		th := float64(o) * math.Pi / 4
		gw = append(gw, Gabor(gk, th, 4, 2, false)...)
		gw = append(gw, Gabor(gk, th, 4, 2, true)...)
	}
	pair := make([]float32, 4*8)
	for o := range 4 {
		pair[o*8+2*o], pair[o*8+2*o+1] = textureGain, textureGain
	}
	lum2 := b.conv(convSpec{Name: "luma", Input: x2, Out: 1, In: 3, K: 1, Weight: Luma[:], OutputTensor: "luma_s2"})
	lum4 := b.avgPool(lum2, "luma_s4", 2, 2, 0, false)
	gabor := func(x, tag string) string {
		g := b.conv(convSpec{Name: "gabor_" + tag, Input: x, Out: 8, In: 1, K: gk, Pad: gk / 2, Weight: gw})
		g = b.node("Abs", []string{g}, "gabor_abs_"+tag)
		return b.conv(convSpec{Name: "energy_" + tag, Input: g, Out: 4, In: 8, K: 1, Weight: pair})
	}
	g2 := gabor(lum2, "s2")
	g4 := gabor(lum4, "s4")

	base := b.node("Concat", []string{
		b.avgPool(col, "color_s8", 4, 4, 0, false),
		b.avgPool(ch, "chroma_s8", 4, 4, 0, false),
		b.avgPool(ed, "edges_s8", 4, 4, 0, false),
		b.avgPool(g2, "texture_hi_s8", 4, 4, 0, false),
		b.avgPool(g4, "texture_lo_s8", 2, 2, 0, false),
	}, "base_s8", attrInt("axis", 1))

	ctx := b.avgPool(base, "context_s8", 7, 1, 3, false)
	c32 := b.avgPool(base, "base_s32", 4, 4, 0, false)
	c32 = b.avgPool(c32, "context_s32", 5, 1, 2, true)
	size := b.node("Shape", []string{base}, "base_s8_shape")
	up := b.resizeTo(c32, size, "context_s32_up")
	feat := b.node("Concat", []string{base, ctx, up}, DemoFeature, attrInt("axis", 1))

	classifier(b, rng, feat, DemoChannels, DemoClasses, "logits")
	b.g.Output = []*pb.ValueInfoProto{floatValue("logits", symbol("batch"), fixed(DemoClasses), symbol("height_s8"), symbol("width_s8"))}
	return model(b.g, "Demo backbone with fixed hand-designed filters (colour, chroma, edges, Gabor textures, context) "+
		"and a fixed random classifier, generated by lmpseg-modelgen.",
		MetaFeature, DemoFeature, MetaStride, "8")
}
