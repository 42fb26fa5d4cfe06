package lift

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
)

// zooFrom returns the tensor torchvision's segmentation models feed their
// classifier with: the first input of the first node under /classifier/
// that no classifier node produces.
func zooFrom(g *pb.GraphProto) string {
	prod := map[string]string{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			prod[o] = n.GetName()
		}
	}
	for _, n := range g.GetNode() {
		if !strings.Contains(n.GetName(), "classifier") || strings.Contains(n.GetName(), "aux") || n.GetOpType() == "Shape" {
			continue
		}
		in := n.GetInput()[0]
		if p, ok := prod[in]; ok && !strings.Contains(p, "classifier") {
			return in
		}
	}
	return ""
}

// deepFrom returns a float tensor about two thirds into the nodes that
// compute from: the output of a Conv there.
func deepFrom(g *pb.GraphProto, from string) string {
	end := 0
	for i, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o == from {
				end = i
			}
		}
	}
	for i := end * 2 / 3; i < end; i++ {
		if n := g.GetNode()[i]; n.GetOpType() == "Conv" {
			return n.GetOutput()[0]
		}
	}
	return ""
}

// zooHeads are the file-name prefixes of torchvision's six segmentation
// models, as scripts/zoo.py names them (the ResNet-101 ones with --big).
var zooHeads = []string{
	"fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
	"deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large",
}

// zooHead returns the head of zooHeads that file base belongs to, or "".
func zooHead(base string) string {
	for _, h := range zooHeads {
		if rest, ok := strings.CutPrefix(base, h); ok && (strings.HasPrefix(rest, "_") || strings.HasPrefix(rest, ".")) {
			return h
		}
	}
	return ""
}

// isDecoder reports whether a graph node of a torchvision segmentation
// model belongs to its decoder: under /classifier/ (the auxiliary
// classifier excluded), or the Resize to the image size (and any
// Identity) outside the backbone.
func isDecoder(n *pb.NodeProto) bool {
	name := n.GetName()
	if strings.Contains(name, "aux_classifier") || strings.Contains(name, "/backbone/") {
		return false
	}
	if strings.Contains(name, "/classifier/") {
		return true
	}
	op := n.GetOpType()
	return op == "Resize" || op == "Identity"
}

// checkDecoder checks that net, lifted from the decoder input of a
// torchvision segmentation model, holds exactly the decoder: every lifted
// layer is a decoder node (isDecoder), every convolution of the decoder is
// lifted, and the tail reads wantInputs tensors, each computed by the
// backbone.
func checkDecoder(t *testing.T, g *pb.GraphProto, net *Net, wantInputs int) {
	t.Helper()
	prod := map[string]*pb.NodeProto{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			prod[o] = n
		}
	}
	lifted := map[string]bool{}
	for _, n := range net.nodes {
		if n.kind == kSmall {
			continue
		}
		lifted[n.pn.GetName()] = true
		if !isDecoder(n.pn) {
			t.Errorf("lifted node %q (%s) is not part of the decoder", n.pn.GetName(), n.pn.GetOpType())
		}
	}
	convs := 0
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Conv" && isDecoder(n) {
			convs++
			if !lifted[n.GetName()] {
				t.Errorf("decoder convolution %q was not lifted", n.GetName())
			}
		}
	}
	if convs == 0 {
		t.Errorf("no decoder convolution found in the graph")
	}
	if got := len(net.Inputs()); got != wantInputs {
		t.Errorf("the tail reads %d tensors %v, want %d", got, net.Inputs(), wantInputs)
	}
	for _, in := range net.Inputs() {
		if p := prod[in]; p == nil || !strings.Contains(p.GetName(), "/backbone/") {
			t.Errorf("tail input %q is not computed by the backbone", in)
		}
	}
}

// checkZooRefusal turns the first Relu of the decoder into a Softplus, an
// operator lift does not handle, and checks that lifting from the decoder
// input from is refused with an error wrapping ErrUnsupported that names
// the node and the operator and lists tensors lifting would work from, and
// that lifting from the first of those works. The node is restored before
// it returns.
func checkZooRefusal(t *testing.T, m *onnx.Model, from, out string, h, w int) {
	t.Helper()
	var relu *pb.NodeProto
	for _, n := range m.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "Relu" && isDecoder(n) {
			relu = n
			break
		}
	}
	if relu == nil {
		t.Errorf("no Relu in the decoder to replace")
		return
	}
	relu.OpType = "Softplus"
	defer func() { relu.OpType = "Relu" }()
	_, err := Lift(m, from, Options{Output: out, H: h, W: w, Threads: 2})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), fmt.Sprintf("%q (Softplus)", relu.GetName())) {
		t.Errorf("a Softplus in the decoder (node %q): got %v, want ErrUnsupported naming the node and operator", relu.GetName(), err)
		return
	}
	t.Logf("refused: %v", err)
	const mark = "lifting would work from: "
	i := strings.Index(err.Error(), mark)
	if i < 0 {
		t.Errorf("the refusal lists no tensor to lift from: %v", err)
		return
	}
	cand, _, _ := strings.Cut(err.Error()[i+len(mark):], ", ")
	if _, err := Lift(m, cand, Options{Output: out, H: h, W: w, Threads: 2}); err != nil {
		t.Errorf("lifting from the suggested %q: %v", cand, err)
	}
}

// zooResult is one model's measured differences, for the summary.
type zooResult struct {
	base, from   string
	inputs       int
	dec, deep    float64
	deepExport   float64
	trainExport  float64
	exportSkiped bool
}

// TestZoo lifts the decoders of torchvision's segmentation models exported
// to ONNX (the folder in $LMPSEG_ZOO, written by scripts/zoo.py --big;
// skipped without it; $LMPSEG_ZOO_MATCH keeps the files whose name holds
// it) and, for each file, checks that:
//
//   - the tail lifted from the decoder input (zooFrom: what the classifier
//     reads) is exactly the decoder (checkDecoder; LR-ASPP's reads two
//     backbone tensors, the others one), and its forward equals
//     onnxruntime's values of the same tensors to 1e-4 relative;
//   - a decoder holding an unsupported operator is refused naming the node
//     and operator (checkZooRefusal);
//   - a tail lifted from inside the backbone (deepFrom) matches too, and so
//     does its export merged into the model;
//   - a 5-class tail after one training step, exported and merged, gives
//     the lifted forward's values.
//
// Each of the six heads must be present in its opset-17 dynamic form
// unless $LMPSEG_ZOO_MATCH is set. The whole zoo takes tens of minutes on
// two cores (the 512x512 ResNet files most): go test -timeout 90m.
func TestZoo(t *testing.T) {
	dir := os.Getenv("LMPSEG_ZOO")
	if dir == "" {
		t.Skip("LMPSEG_ZOO is not set")
	}
	needRuntime(t)
	match := os.Getenv("LMPSEG_ZOO_MATCH")
	if match == "" {
		for _, h := range zooHeads {
			if _, err := os.Stat(filepath.Join(dir, h+"_opset17_dyn.onnx")); err != nil {
				t.Errorf("%s: %v (scripts/zoo.py %s --big exports the six heads)", h, err, dir)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	var results []zooResult
	for _, f := range files {
		base := filepath.Base(f)
		if zooHead(base) == "" || strings.Contains(base, "fp16") || strings.Contains(base, "nhwc") {
			continue
		}
		if match != "" && !strings.Contains(base, match) {
			continue
		}
		t.Run(strings.TrimSuffix(base, ".onnx"), func(t *testing.T) {
			if r, ok := zooModel(t, f); ok {
				results = append(results, r)
			}
		})
	}
	for _, r := range results {
		ex := fmt.Sprintf("deep export %.2g, 5-class trained export %.2g", r.deepExport, r.trainExport)
		if r.exportSkiped {
			ex = "export not checked (opset below onnx.MinOpset)"
		}
		t.Logf("%-44s decoder from %s (%d inputs): %.2g; deep %.2g; %s", r.base, r.from, r.inputs, r.dec, r.deep, ex)
	}
}

// zooModel runs TestZoo's checks on the model in file f and returns the
// measured differences; ok is false where the model could not be lifted.
func zooModel(t *testing.T, f string) (r zooResult, ok bool) {
	base := filepath.Base(f)
	r.base = strings.TrimSuffix(base, ".onnx")
	m, err := onnx.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	from := zooFrom(m.Proto.GetGraph())
	if from == "" {
		t.Fatalf("no decoder input found")
	}
	r.from = from
	h, w := 96, 128
	if sh := m.Proto.Graph.Input[0].GetType().GetTensorType().GetShape(); sh.GetDim()[2].GetDimValue() > 0 {
		h, w = int(sh.GetDim()[2].GetDimValue()), int(sh.GetDim()[3].GetDimValue())
	}
	out := ""
	for _, o := range m.Proto.Graph.Output {
		if o.GetName() == "out" {
			out = "out"
		}
	}
	net, err := Lift(m, from, Options{Output: out, H: h, W: w, Threads: 2})
	if err != nil {
		t.Errorf("from %s: %v", from, err)
		return r, false
	}
	wantInputs := 1
	if zooHead(base) == "lraspp_mobilenet_v3_large" {
		wantInputs = 2 // the high-level feature and the low-level one
	}
	checkDecoder(t, m.Proto.GetGraph(), net, wantInputs)
	r.inputs = len(net.Inputs())
	checkZooRefusal(t, m, from, out, h, w)

	rng := rand.New(rand.NewPCG(1, 1))
	const n = 1
	x := randData(rng, n*3*h*w)
	for i := range x {
		x[i] *= 0.5
	}
	res := runORT(t, m, append(net.Inputs(), net.Output()), x, n, h, w)
	y := net.ForwardInputs(res[:len(res)-1], false)
	r.dec = relDiff(y, res[len(res)-1])
	t.Logf("lifted from %s (inputs %v, %d nodes, %d params): max relative difference %.2g", from, net.Inputs(), len(net.nodes), len(net.Params()), r.dec)
	if !(r.dec < 1e-4) {
		t.Errorf("lifted forward differs from onnxruntime by %.3g", r.dec)
	}
	// Lift deeper, from inside the backbone (residual blocks,
	// depthwise convolutions, squeeze-and-excitation gates).
	r.deep = -1
	if deep := deepFrom(m.Proto.GetGraph(), from); deep != "" {
		dn, err := Lift(m, deep, Options{Output: out, H: h, W: w, Threads: 2})
		if err != nil {
			t.Errorf("from %s: %v", deep, err)
		} else {
			rr := runORT(t, m, append(dn.Inputs(), dn.Output()), x, n, h, w)
			r.deep = relDiff(dn.ForwardInputs(rr[:len(rr)-1], false), rr[len(rr)-1])
			t.Logf("lifted from %s (%d inputs, %d nodes, %d params): max relative difference %.2g", deep, len(dn.Inputs()), len(dn.nodes), len(dn.Params()), r.deep)
			if !(r.deep < 1e-4) {
				t.Errorf("from %s: lifted forward differs from onnxruntime by %.3g", deep, r.deep)
			}
			if onnx.Opset(m.Proto) >= onnx.MinOpset {
				merged := mergeExport(t, m, dn, deep, "deep_out", "deep/", base)
				r.deepExport = relDiff(runORT(t, merged, nil, x, n, h, w)[0], rr[len(rr)-1])
				t.Logf("deep export vs onnxruntime: %.2g", r.deepExport)
				if !(r.deepExport < 1e-4) {
					t.Errorf("from %s: exported deep tail differs by %.3g", deep, r.deepExport)
				}
			}
		}
	}
	if onnx.Opset(m.Proto) < onnx.MinOpset {
		t.Logf("opset %d: onnx.Merge needs %d, export not checked", onnx.Opset(m.Proto), onnx.MinOpset)
		r.exportSkiped = true
		return r, true
	}
	// Train with 5 classes, export, compare.
	net5, err := Lift(m, from, Options{Output: out, H: h, W: w, Classes: 5, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	ins := append([]*graph.Tensor(nil), res[:len(res)-1]...)
	if n == 1 {
		// Batch norm needs several values per channel: two images.
		for i, in := range ins {
			two := graph.NewTensor(2, in.C, in.H, in.W)
			copy(two.Data, in.Data)
			copy(two.Data[len(in.Data):], in.Data)
			for j := len(in.Data); j < len(two.Data); j++ {
				two.Data[j] *= 0.9
			}
			ins[i] = two
		}
	}
	net5.ZeroGrad()
	y5 := net5.ForwardInputs(ins, true)
	dy := graph.NewTensor(y5.N, y5.C, y5.H, y5.W)
	copy(dy.Data, randData(rng, len(dy.Data)))
	net5.Backward(dy)
	for _, p := range net5.Params() {
		for i, g := range p.Grad {
			p.Data[i] -= 1e-3 * g
		}
	}
	want := net5.ForwardInputs(res[:len(res)-1], false)
	merged := mergeExport(t, m, net5, from, "lifted_out", "lifted/", base)
	got := runORT(t, merged, nil, x, n, h, w)[0]
	r.trainExport = relDiff(want, got)
	t.Logf("5-class trained export vs lifted forward: %.2g (%v vs %v)", r.trainExport, []int{want.N, want.C, want.H, want.W}, []int{got.N, got.C, got.H, got.W})
	if !(r.trainExport < 1e-4) {
		t.Errorf("exported model differs from the lifted forward by %.3g", r.trainExport)
	}
	return r, true
}

// TestZooParity compares exported models with the models they came from:
// $LMPSEG_ZOO_PARITY holds pairs ORIGINAL=EXPORTED separated by spaces
// (skipped without it), as scripts/zoo_lift.sh writes them after train
// --trainable-from --iters 0 with the model's own classes. On the images in
// the folder $LMPSEG_ZOO_PARITY_IMAGES (default: two seeded random images
// of 256x512), normalised with data.ImageNet, the exported model's scores
// must reproduce the original's (its output "out", or its first): the same
// argmax on at least 99.99% of the pixels, and scores within 1e-4 of the
// scores' largest magnitude (export's parity tolerance).
func TestZooParity(t *testing.T) {
	pairs := strings.Fields(os.Getenv("LMPSEG_ZOO_PARITY"))
	if len(pairs) == 0 {
		t.Skip("LMPSEG_ZOO_PARITY is not set")
	}
	needRuntime(t)
	type image struct {
		name string
		h, w int
		x    []float32
	}
	var images []image
	if dir := os.Getenv("LMPSEG_ZOO_PARITY_IMAGES"); dir != "" {
		paths, err := data.ListImages(dir)
		if err != nil || len(paths) == 0 {
			t.Fatalf("images in %s: %v (%d found)", dir, err, len(paths))
		}
		for _, p := range paths {
			s, err := data.LoadImage(p)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float32, 3*s.H*s.W)
			data.ImageNet.Apply(x, s)
			images = append(images, image{s.Name, s.H, s.W, x})
		}
	} else {
		rng := rand.New(rand.NewPCG(3, 3))
		for i := range 2 {
			images = append(images, image{fmt.Sprintf("random%d", i), 256, 512, randData(rng, 3*256*512)})
		}
	}
	for _, p := range pairs {
		orig, exported, ok := strings.Cut(p, "=")
		if !ok {
			t.Fatalf("LMPSEG_ZOO_PARITY: %q is not ORIGINAL=EXPORTED", p)
		}
		t.Run(filepath.Base(filepath.Dir(exported)), func(t *testing.T) {
			mo, err := onnx.Load(orig)
			if err != nil {
				t.Fatal(err)
			}
			me, err := onnx.Load(exported)
			if err != nil {
				t.Fatal(err)
			}
			out := mo.Proto.GetGraph().GetOutput()[0].GetName()
			for _, o := range mo.Proto.GetGraph().GetOutput() {
				if o.GetName() == "out" {
					out = "out"
				}
			}
			var worst float64
			var same, pixels, classes int
			for _, im := range images {
				want := runORT(t, mo, []string{out}, im.x, 1, im.h, im.w)[0]
				got := runORT(t, me, nil, im.x, 1, im.h, im.w)[0]
				if !got.SameShape(want) {
					t.Fatalf("%s: exported scores %v, original %v", im.name, []int{got.N, got.C, got.H, got.W}, []int{want.N, want.C, want.H, want.W})
				}
				classes = got.C
				worst = max(worst, relDiff(got, want))
				a, b := argmaxC(got), argmaxC(want)
				for i := range a {
					if a[i] == b[i] {
						same++
					}
				}
				pixels += len(a)
			}
			agree := float64(same) / float64(pixels)
			t.Logf("%s vs %s: %d images, %d classes, max score difference %.3g of the scale, argmax agrees on %.4f%% of %d pixels",
				filepath.Base(exported), filepath.Base(orig), len(images), classes, worst, 100*agree, pixels)
			if !(worst <= 1e-4) {
				t.Errorf("scores differ by %.3g of their scale (tolerance 1e-4)", worst)
			}
			if !(agree >= 0.9999) {
				t.Errorf("argmax agrees on %.4f%% of the pixels (want at least 99.99%%)", 100*agree)
			}
		})
	}
}

// argmaxC returns the channel of the largest value at every pixel of x
// (N x H x W values; the first channel on ties).
func argmaxC(x *graph.Tensor) []int {
	hw := x.H * x.W
	dst := make([]int, x.N*hw)
	for n := range x.N {
		base := n * x.C * hw
		for i := range hw {
			best, bv := 0, x.Data[base+i]
			for c := 1; c < x.C; c++ {
				if v := x.Data[base+c*hw+i]; v > bv {
					best, bv = c, v
				}
			}
			dst[n*hw+i] = best
		}
	}
	return dst
}
