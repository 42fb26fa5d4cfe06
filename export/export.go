package export

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/onnx"
	"github.com/lmpseg/lmpseg/train"
)

// Options control an export.
type Options struct {
	Output     string // what the model outputs: logits (default), probs or labels
	LabelsType string // labels output: int64 (default) or uint8
	HeadOnly   bool   // write only the head, over the feature tensor
	// Flip bakes flip test-time augmentation into the model: the image and its mirror image run
	// through the network and their softmax probabilities are averaged (output probs or labels).
	Flip bool
	// ProbeH, ProbeW is the size of the parity-check input; 0: the model's static input size,
	// else the training crop, else 128x256.
	ProbeH, ProbeW int
	// Tol is the largest allowed logit difference relative to the logits' scale (default 1e-4).
	Tol     float64
	Device  string // onnxruntime execution provider for the check
	Threads int
	Version string // the tool version written to the metadata
}

// Result describes a written model and its parity check.
type Result struct {
	Nodes  int
	Opset  int64
	Output string // the name of the model's output
	// MaxAbs is the largest absolute logit difference, MaxRel the same divided by
	// max(1, max |logit|), and Agree the fraction of pixels whose argmax is the same.
	MaxAbs, MaxRel, Agree float64
	Values                int
	ProbeH, ProbeW        int
}

// Run writes the model of the run folder run to out and checks it against the Go path.
func Run(run, out string, o Options) (*Result, error) {
	if o.Output == "" {
		o.Output = "logits"
		if o.Flip {
			o.Output = "probs"
		}
	}
	if o.LabelsType == "" {
		o.LabelsType = "int64"
	}
	if o.Tol == 0 {
		o.Tol = 1e-4
	}
	switch {
	case o.Output != "logits" && o.Output != "probs" && o.Output != "labels":
		return nil, fmt.Errorf("export: --output %q: want logits, probs or labels", o.Output)
	case o.LabelsType != "int64" && o.LabelsType != "uint8":
		return nil, fmt.Errorf("export: --labels-type %q: want int64 or uint8", o.LabelsType)
	case !(o.Tol > 0) || math.IsInf(o.Tol, 0):
		return nil, fmt.Errorf("export: --tolerance %v: want a positive number", o.Tol)
	case o.Flip && (o.Output == "logits" || o.HeadOnly):
		return nil, fmt.Errorf("export: --flip averages probabilities of the whole model: give --output probs or labels, without --head-only")
	}
	cfg, head, _, err := train.OpenRun(run)
	if err != nil {
		return nil, err
	}
	if err := sameFileGuard(out, cfg.Backbone, run); err != nil {
		return nil, err
	}
	if o.HeadOnly && cfg.Lift != nil {
		return nil, fmt.Errorf("export: --head-only: run %s trains the backbone's own decoder from %s, which reads the backbone's tensors by name; export the whole model instead", run, cfg.Lift.From)
	}
	if o.HeadOnly && cfg.FeatureLayout != "" {
		return nil, fmt.Errorf("export: --head-only: run %s reads a channels-last (%s) feature tensor; export the whole model instead", run, cfg.FeatureLayout)
	}
	bb, err := onnx.Load(cfg.Backbone)
	if err != nil {
		return nil, fmt.Errorf("export: run %s: %w", run, err)
	}
	if sha, err := onnx.Sha256(cfg.Backbone); err != nil || sha != cfg.BackboneSHA256 {
		return nil, fmt.Errorf("export: run %s was trained on a backbone with sha256 %.12s…, but %s differs now; restore the original file", run, cfg.BackboneSHA256, cfg.Backbone)
	}
	b, err := build(bb, cfg, head, o)
	if err != nil {
		return nil, err
	}
	md := infer.Metadata{Classes: cfg.Classes, Palette: infer.PaletteRGB(data.PaletteFor(cfg.Classes)), Pre: &cfg.Preprocess,
		Feature: cfg.Feature, Output: o.Output, Head: jsonString(cfg.Head), Loss: jsonString(cfg.Loss), Version: o.Version}
	md.Write(b.model.Proto)

	// Write under a temporary name beside out, check, then rename over out.
	tmp, err := tempPath(out)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := b.model.Save(tmp); err != nil {
		return nil, err
	}
	checkPath := tmp
	if b.checked != b.model {
		cp, err := tempPath(out)
		if err != nil {
			return nil, err
		}
		defer os.Remove(cp)
		if err := b.checked.Save(cp); err != nil {
			return nil, err
		}
		checkPath = cp
	}
	res, err := parity(checkPath, cfg, head, bb, o)
	if err != nil {
		return nil, err
	}
	res.Nodes, res.Opset, res.Output = len(b.model.Proto.GetGraph().GetNode()), onnx.Opset(b.model.Proto), b.output
	if !(res.MaxRel <= o.Tol) {
		return res, fmt.Errorf("export: parity check failed: the exported model and the Go path differ by %.3g relative to the logits' scale (%.3g absolute) > %.0e at %dx%d; %s was not written", res.MaxRel, res.MaxAbs, o.Tol, res.ProbeH, res.ProbeW, out)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return res, nil
}

// sameFileGuard refuses an output path that is the run's backbone or a file of the run folder.
func sameFileGuard(out, backbone, run string) error {
	if st, err := os.Stat(out); err == nil {
		if st.IsDir() {
			return fmt.Errorf("export: --out %s is a folder; give a file name such as model.onnx", out)
		}
		if bst, err := os.Stat(backbone); err == nil && os.SameFile(st, bst) {
			return fmt.Errorf("export: --out %s is the run's backbone; writing it would break the run: choose another file name", out)
		}
	}
	ao, _ := filepath.Abs(out)
	ar, _ := filepath.Abs(run)
	if filepath.Dir(ao) == ar {
		switch filepath.Base(ao) {
		case train.ConfigFile, train.LastCkpt, train.BestCkpt, train.MetricsFile, train.CSVFile:
			return fmt.Errorf("export: --out %s is a file of the run folder; choose another file name", out)
		}
	}
	return nil
}

// tempPath returns a fresh temporary file name in the folder of out.
func tempPath(out string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*.onnx")
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	name := f.Name()
	f.Close()
	return name, nil
}

// built is an export before it is written: model is what is written; checked is the graph whose
// logits the parity check compares with the Go path (model itself for logits and head-only
// exports, else the same graph ending at the upsampled logits, built from the same cut).
type built struct {
	model, checked *onnx.Model
	output         string
}

func build(bb *onnx.Model, cfg *train.Config, head graph.Trainable, o Options) (*built, error) {
	g := bb.Proto.GetGraph()
	names := tensorNames(g)
	free := func(want string) string {
		n := want
		for i := 2; names[n]; i++ {
			n = fmt.Sprintf("%s_%d", want, i)
		}
		names[n] = true
		return n
	}
	prefix := "lmpseg_"
	for i := 2; hasPrefix(names, prefix); i++ {
		prefix = fmt.Sprintf("lmpseg%d_", i)
	}
	headLogits := prefix + "head_logits"
	headIn := cfg.Feature
	var cast []*pb.NodeProto
	if t := onnx.TensorType(bb, cfg.Feature); t == "float16" {
		// A float16 backbone: the head computes in float32, as in training.
		cast = append(cast, onnx.Node("Cast", prefix+"feature_cast", []string{headIn}, []string{prefix + "feature_float"}, onnx.AttrInt("to", int64(pb.TensorProto_FLOAT))))
		headIn = prefix + "feature_float"
	}
	if cfg.FeatureLayout == "nhwc" {
		// A channels-last feature: the head reads it transposed, as in training.
		cast = append(cast, onnx.Node("Transpose", prefix+"feature_nchw", []string{headIn}, []string{prefix + "feature_nchw"}, onnx.AttrInts("perm", 0, 3, 1, 2)))
		headIn = prefix + "feature_nchw"
	}
	hn, hi, err := head.ToONNX(headIn, headLogits, prefix+"head_")
	if err != nil {
		return nil, err
	}
	hn = append(cast, hn...)
	if o.HeadOnly {
		m := &onnx.Model{Proto: &pb.ModelProto{
			IrVersion: bb.Proto.GetIrVersion(), OpsetImport: bb.Proto.GetOpsetImport(),
			Graph: &pb.GraphProto{Name: "lmpseg_head", Node: hn, Initializer: hi,
				Input:  []*pb.ValueInfoProto{onnx.ValueInfo(cfg.Feature, pb.TensorProto_FLOAT, "batch", "channels", "fh", "fw")},
				Output: []*pb.ValueInfoProto{onnx.ValueInfo(headLogits, pb.TensorProto_FLOAT, "batch", "classes", "fh", "fw")}},
		}}
		return &built{model: m, checked: m, output: headLogits}, nil
	}
	ins := onnx.RealInputs(g)
	if len(ins) == 0 {
		return nil, fmt.Errorf("export: %s has no inputs", cfg.Backbone)
	}
	cut := bb // a lifted decoder may read more of the backbone than cfg.Feature: Merge prunes
	if cfg.Lift == nil {
		var err error
		if cut, err = onnx.Cut(bb, cfg.Feature); err != nil {
			return nil, err
		}
	}
	opset := onnx.Opset(bb.Proto)
	logits := free("logits")
	in, err := onnx.ImageInput(bb)
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", cfg.Backbone, err)
	}
	rn, ri := resizeNodes(prefix+"resize_", ins[0].GetName(), in.Layout == "nhwc", headLogits, logits, opset)
	nodes := append(append([]*pb.NodeProto{}, hn...), rn...)
	inits := append(append([]*pb.TensorProto{}, hi...), ri...)
	logitsOut := []*pb.ValueInfoProto{onnx.ValueInfo(logits, pb.TensorProto_FLOAT, "batch", "classes", "height", "width")}
	checked, err := onnx.Merge(cut, nodes, inits, logitsOut)
	if err != nil {
		return nil, err
	}
	b := &built{model: checked, checked: checked, output: logits}
	scores := logits // what probs and labels are computed from
	if o.Flip {
		fn, fi, err := flipNodes(checked.Proto.GetGraph(), prefix+"flip_", ins[0].GetName(), logits, opset)
		if err != nil {
			return nil, err
		}
		scores = prefix + "flip_mean"
		avg := []*pb.ValueInfoProto{onnx.ValueInfo(scores, pb.TensorProto_FLOAT, "batch", "classes", "height", "width")}
		if b.checked, err = onnx.Merge(checked, fn, fi, avg); err != nil {
			return nil, err
		}
		cut, nodes, inits = b.checked, nil, nil
	}
	var outputs []*pb.ValueInfoProto
	switch o.Output {
	case "probs":
		b.output = free("probs")
		if o.Flip {
			nodes = append(nodes, onnx.Node("Identity", prefix+"probs", []string{scores}, []string{b.output}))
		} else {
			nodes = append(nodes, softmaxNodes(prefix+"softmax_", logits, b.output, opset)...)
		}
		outputs = []*pb.ValueInfoProto{onnx.ValueInfo(b.output, pb.TensorProto_FLOAT, "batch", "classes", "height", "width")}
	case "labels":
		b.output = free("labels")
		lab := b.output
		et := pb.TensorProto_INT64
		if o.LabelsType == "uint8" {
			lab, et = prefix+"labels_int64", pb.TensorProto_UINT8
		}
		nodes = append(nodes, onnx.Node("ArgMax", prefix+"argmax", []string{scores}, []string{lab}, onnx.AttrInt("axis", 1), onnx.AttrInt("keepdims", 1)))
		if o.LabelsType == "uint8" {
			nodes = append(nodes, onnx.Node("Cast", prefix+"cast", []string{lab}, []string{b.output}, onnx.AttrInt("to", int64(pb.TensorProto_UINT8))))
		}
		outputs = []*pb.ValueInfoProto{onnx.ValueInfo(b.output, et, "batch", "one", "height", "width")}
	}
	if outputs != nil {
		if b.model, err = onnx.Merge(cut, nodes, inits, outputs); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// flipNodes returns the nodes that run g (ending at logits) a second time on the mirror image of
// image, mirror the result back and average the two softmax probabilities into prefix+"mean". The
// copy shares g's initializers; every value it computes is renamed with prefix.
func flipNodes(g *pb.GraphProto, prefix, image, logits string, opset int64) ([]*pb.NodeProto, []*pb.TensorProto, error) {
	inits := []*pb.TensorProto{onnx.Int64Vector(prefix+"start", -1), onnx.Int64Vector(prefix+"end", math.MinInt64),
		onnx.Int64Vector(prefix+"axis", 3), onnx.Int64Vector(prefix+"step", -1), onnx.FloatTensor(prefix+"half", nil, []float32{0.5})}
	mirror := func(in, out string) *pb.NodeProto {
		return onnx.Node("Slice", out, []string{in, prefix + "start", prefix + "end", prefix + "axis", prefix + "step"}, []string{out})
	}
	rename := map[string]string{image: prefix + "image"}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				rename[o] = prefix + o
			}
		}
	}
	nodes := []*pb.NodeProto{mirror(image, prefix+"image")}
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil || len(a.GetGraphs()) > 0 {
				return nil, nil, fmt.Errorf("export: --flip: node %s (%s) has a subgraph, which the mirrored copy cannot share; export without --flip", n.GetName(), n.GetOpType())
			}
		}
		c := proto.Clone(n).(*pb.NodeProto)
		c.Name = prefix + n.GetName()
		for i, in := range c.Input {
			if r, ok := rename[in]; ok {
				c.Input[i] = r
			}
		}
		for i, o := range c.Output {
			if o != "" {
				c.Output[i] = rename[o]
			}
		}
		nodes = append(nodes, c)
	}
	nodes = append(nodes, mirror(rename[logits], prefix+"back"))
	nodes = append(nodes, softmaxNodes(prefix+"sm_a_", logits, prefix+"probs_a", opset)...)
	nodes = append(nodes, softmaxNodes(prefix+"sm_b_", prefix+"back", prefix+"probs_b", opset)...)
	nodes = append(nodes,
		onnx.Node("Add", prefix+"sum", []string{prefix + "probs_a", prefix + "probs_b"}, []string{prefix + "sum"}),
		onnx.Node("Mul", prefix+"mean", []string{prefix + "sum", prefix + "half"}, []string{prefix + "mean"}))
	return nodes, inits, nil
}

// resizeNodes upsamples logits to the spatial size of image: sizes = Concat(Shape(logits)[0:2],
// Shape(image)[2:4]), or Shape(image)[1:3] for an NHWC image. Opsets 11 and 12 need roi and
// scales given (as empty tensors).
func resizeNodes(p, image string, nhwc bool, logits, out string, opset int64) ([]*pb.NodeProto, []*pb.TensorProto) {
	roi, scales := "", ""
	h0 := int64(2)
	if nhwc {
		h0 = 1
	}
	inits := []*pb.TensorProto{onnx.Int64Vector(p+"zero", 0), onnx.Int64Vector(p+"two", 2), onnx.Int64Vector(p+"h0", h0), onnx.Int64Vector(p+"h1", h0+2)}
	if opset < 13 {
		roi, scales = p+"roi", p+"scales"
		inits = append(inits, onnx.FloatTensor(roi, []int64{0}, nil), onnx.FloatTensor(scales, []int64{0}, nil))
	}
	nodes := []*pb.NodeProto{
		onnx.Node("Shape", p+"shape_img", []string{image}, []string{p + "img_shape"}),
		onnx.Node("Shape", p+"shape_logits", []string{logits}, []string{p + "logits_shape"}),
		onnx.Node("Slice", p+"slice_hw", []string{p + "img_shape", p + "h0", p + "h1"}, []string{p + "hw"}),
		onnx.Node("Slice", p+"slice_nc", []string{p + "logits_shape", p + "zero", p + "two"}, []string{p + "nc"}),
		onnx.Node("Concat", p+"sizes", []string{p + "nc", p + "hw"}, []string{p + "sizes"}, onnx.AttrInt("axis", 0)),
		onnx.Node("Resize", p+"resize", []string{logits, roi, scales, p + "sizes"}, []string{out},
			onnx.AttrString("mode", "linear"), onnx.AttrString("coordinate_transformation_mode", "half_pixel")),
	}
	return nodes, inits
}

// softmaxNodes is a softmax over the class axis. Before opset 13 Softmax flattens everything after
// its axis into one, so the classes are moved last, normalised there and moved back.
func softmaxNodes(p, in, out string, opset int64) []*pb.NodeProto {
	if opset >= 13 {
		return []*pb.NodeProto{onnx.Node("Softmax", p+"softmax", []string{in}, []string{out}, onnx.AttrInt("axis", 1))}
	}
	return []*pb.NodeProto{
		onnx.Node("Transpose", p+"to_nhwc", []string{in}, []string{p + "nhwc"}, onnx.AttrInts("perm", 0, 2, 3, 1)),
		onnx.Node("Softmax", p+"softmax", []string{p + "nhwc"}, []string{p + "probs_nhwc"}, onnx.AttrInt("axis", 3)),
		onnx.Node("Transpose", p+"to_nchw", []string{p + "probs_nhwc"}, []string{out}, onnx.AttrInts("perm", 0, 3, 1, 2)),
	}
}

// parity runs the exported graph and the Go path on a deterministic probe input.
func parity(path string, cfg *train.Config, head graph.Trainable, bbModel *onnx.Model, o Options) (*Result, error) {
	h, w := o.ProbeH, o.ProbeW
	if h == 0 {
		h, w = 128, 256
		if st := infer.StaticInputHW(bbModel); st[0] > 0 {
			h, w = st[0], st[1]
		} else if cfg.Crop[0] > 0 {
			h, w = cfg.Crop[0], cfg.Crop[1]
		}
	}
	x := make([]float32, 3*h*w)
	for i := range x { // a smooth deterministic pattern with some texture
		y, xx, ch := (i/w)%h, i%w, i/(h*w)
		x[i] = float32(math.Sin(float64(y)*0.11+float64(ch))*1.2 + math.Cos(float64(xx)*0.07)*0.8)
	}
	bb, err := onnx.OpenBackbone(cfg.Backbone, cfg.BackboneOptions(o.Device, o.Threads))
	if err != nil {
		return nil, err
	}
	defer bb.Close()
	feats := train.FeaturesFor(cfg, bb)
	feat, shape, err := feats.Run(x, 1, h, w)
	if err != nil {
		return nil, fmt.Errorf("export: parity check at %dx%d: backbone: %w", h, w, err)
	}
	ft, err := graph.TensorFrom(feat, shape)
	if err != nil {
		return nil, fmt.Errorf("export: parity check: feature %s: %w", cfg.Feature, err)
	}
	if err := head.CheckTensor(ft); err != nil {
		return nil, fmt.Errorf("export: feature %s of %s: %w; the run's checkpoint does not belong to its config.json", cfg.Feature, cfg.Backbone, err)
	}
	want := head.Forward(ft, false)
	in, ih, iw, ic := x, h, w, 3
	if o.HeadOnly {
		in, ih, iw, ic = feat, ft.H, ft.W, ft.C
	} else {
		up := graph.NewTensor(1, want.C, h, w)
		graph.ResizeBilinear(up, want)
		want = up
	}
	if o.Flip {
		// The Go path of flip augmentation: infer's Aug with one scale, on the same input.
		xf := append([]float32(nil), x...)
		mirrorRows(xf, w)
		ff, fshape, err := feats.Run(xf, 1, h, w)
		if err != nil {
			return nil, fmt.Errorf("export: parity check at %dx%d: backbone on the mirror image: %w", h, w, err)
		}
		ftf, err := graph.TensorFrom(ff, fshape)
		if err != nil {
			return nil, fmt.Errorf("export: parity check: feature %s: %w", cfg.Feature, err)
		}
		lf := head.Forward(ftf, false)
		upf := graph.NewTensor(1, lf.C, h, w)
		graph.ResizeBilinear(upf, lf)
		infer.SoftmaxChannels(want)
		infer.SoftmaxChannels(upf)
		mirrorRows(upf.Data, w)
		for i := range want.Data {
			want.Data[i] = (want.Data[i] + upf.Data[i]) * 0.5
		}
	}
	sess, err := onnx.OpenSession(path, onnx.Options{Device: o.Device, Threads: o.Threads})
	if err != nil {
		return nil, fmt.Errorf("export: parity check: onnxruntime cannot open the exported model: %w", err)
	}
	defer sess.Close()
	outs, err := sess.Run(in, 1, ic, ih, iw)
	if err != nil {
		return nil, fmt.Errorf("export: parity check: running the exported model: %w", err)
	}
	got := outs[0].Data
	if len(got) != len(want.Data) {
		return nil, fmt.Errorf("export: parity check: the exported model gives %d values, the Go path %d", len(got), len(want.Data))
	}
	res := &Result{Values: len(got), ProbeH: h, ProbeW: w}
	res.MaxAbs, res.MaxRel, res.Agree = compareScores(got, want.Data, want.C, want.H*want.W)
	return res, nil
}

// compareScores compares two C x hw score maps: the largest absolute difference, the same
// relative to the scale of want (max |Δ| ÷ max(1, max |want|), so that a head with large logits is
// judged by its precision, not its magnitude), and the fraction of pixels with the same argmax. A
// NaN counts as an infinite difference.
func compareScores(got, want []float32, c, hw int) (maxAbs, maxRel, agree float64) {
	var scale float64
	for i, v := range got {
		d := math.Abs(float64(v - want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxAbs = math.Max(maxAbs, d)
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	return maxAbs, maxAbs / math.Max(1, scale), argmaxAgreement(got, want, c, hw)
}

// mirrorRows reverses every row of length w in x.
func mirrorRows(x []float32, w int) {
	for r := 0; r+w <= len(x); r += w {
		row := x[r : r+w]
		for a, b := 0, w-1; a < b; a, b = a+1, b-1 {
			row[a], row[b] = row[b], row[a]
		}
	}
}

// argmaxAgreement is the fraction of the hw pixels of two C x hw score maps with the same argmax.
func argmaxAgreement(a, b []float32, c, hw int) float64 {
	if hw == 0 {
		return 1
	}
	same := 0
	for i := 0; i < hw; i++ {
		ka, kb := 0, 0
		for k := 1; k < c; k++ {
			if a[k*hw+i] > a[ka*hw+i] {
				ka = k
			}
			if b[k*hw+i] > b[kb*hw+i] {
				kb = k
			}
		}
		if ka == kb {
			same++
		}
	}
	return float64(same) / float64(hw)
}
