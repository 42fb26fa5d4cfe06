package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/onnx"
	"github.com/lmpseg/lmpseg/train"
)

var exportCommand = &cli.Command{
	Name:      "export",
	Usage:     "export backbone + trained head as one ONNX model",
	ArgsUsage: " ",
	Description: "Cuts the run's backbone at its feature tensor (pruning what no longer feeds it), appends the\n" +
		"head as ONNX nodes (BatchNorm folded into Conv), resizes the logits bilinearly back to the input\n" +
		"size (half_pixel, as in training) and writes one model whose metadata holds the classes, palette\n" +
		"and preprocessing, so 'lmpseg eval' and 'predict' need no extra flags. It then runs the file in\n" +
		"onnxruntime and checks it against the Go forward pass (max abs logit difference <= 1e-4).",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "run", Usage: "run folder"},
		&cli.StringFlag{Name: "out", Usage: "output ONNX file"},
		&cli.StringFlag{Name: "output", Value: "logits", Usage: "what the model outputs: logits, probs or labels"},
		&cli.StringFlag{Name: "labels-type", Value: "int64", Usage: "labels output: int64 or uint8"},
		&cli.BoolFlag{Name: "head-only", Usage: "write only the head, over the feature tensor"},
		&cli.StringFlag{Name: "probe", Value: "128x256", Usage: "size HxW of the parity-check input"},
		&cli.Float64Flag{Name: "tolerance", Value: 1e-4, Usage: "parity check: largest allowed abs logit difference"},
	}, runtimeFlags...),
	Action: func(c *cli.Context) error {
		run, out := c.String("run"), c.String("out")
		if run == "" || out == "" {
			return errors.New("export needs --run RUN and --out MODEL.onnx")
		}
		ph, pw, err := parseHW("probe", c.String("probe"))
		if err != nil {
			return err
		}
		if err := initRuntime(c); err != nil {
			return err
		}
		res, err := exportRun(run, out, exportOptions{Output: c.String("output"), LabelsType: c.String("labels-type"),
			HeadOnly: c.Bool("head-only"), ProbeH: ph, ProbeW: pw, Tol: c.Float64("tolerance"), Backbone: backboneOptions(c, "")})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "wrote %s (%d nodes, opset %d); parity check: max abs logit difference %.2e over %d values (tolerance %.0e)\n",
			out, res.Nodes, res.Opset, res.MaxDiff, res.Values, c.Float64("tolerance"))
		return nil
	},
}

type exportOptions struct {
	Output, LabelsType string
	HeadOnly           bool
	ProbeH, ProbeW     int
	Tol                float64
	Backbone           onnx.Options
}

type exportResult struct {
	Nodes   int
	Opset   int64
	MaxDiff float64
	Values  int
}

const (
	headLogits = "lmpseg_head_logits"
)

func attrInt(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INT, I: v}
}
func attrStr(name, v string) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_STRING, S: []byte(v)}
}
func int64Const(name string, v ...int64) *pb.TensorProto {
	return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_INT64), Dims: []int64{int64(len(v))}, Int64Data: v}
}

func valueInfo(name string, elem pb.TensorProto_DataType, dims ...string) *pb.ValueInfoProto {
	shape := &pb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
	}
	return &pb.ValueInfoProto{Name: name, Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: int32(elem), Shape: shape}}}}
}

// resizeNodes upsamples logits to the spatial size of image: sizes = Concat(Shape(logits)[0:2], Shape(image)[2:4]).
func resizeNodes(image, logits, out string) ([]*pb.NodeProto, []*pb.TensorProto) {
	p := "lmpseg_resize_"
	nodes := []*pb.NodeProto{
		{Name: p + "shape_img", OpType: "Shape", Input: []string{image}, Output: []string{p + "img_shape"}},
		{Name: p + "shape_logits", OpType: "Shape", Input: []string{logits}, Output: []string{p + "logits_shape"}},
		{Name: p + "slice_hw", OpType: "Slice", Input: []string{p + "img_shape", p + "two", p + "four"}, Output: []string{p + "hw"}},
		{Name: p + "slice_nc", OpType: "Slice", Input: []string{p + "logits_shape", p + "zero", p + "two"}, Output: []string{p + "nc"}},
		{Name: p + "sizes", OpType: "Concat", Input: []string{p + "nc", p + "hw"}, Output: []string{p + "sizes"}, Attribute: []*pb.AttributeProto{attrInt("axis", 0)}},
		{Name: p + "resize", OpType: "Resize", Input: []string{logits, "", "", p + "sizes"}, Output: []string{out}, Attribute: []*pb.AttributeProto{
			attrStr("mode", "linear"), attrStr("coordinate_transformation_mode", "half_pixel")}},
	}
	inits := []*pb.TensorProto{int64Const(p+"zero", 0), int64Const(p+"two", 2), int64Const(p+"four", 4)}
	return nodes, inits
}

// exportRun writes the run's model to out and checks it against the Go path.
func exportRun(run, out string, o exportOptions) (*exportResult, error) {
	cfg, head, _, err := train.OpenRun(run)
	if err != nil {
		return nil, err
	}
	switch o.Output {
	case "logits", "probs", "labels":
	default:
		return nil, fmt.Errorf("--output %q: want logits, probs or labels", o.Output)
	}
	if o.LabelsType != "int64" && o.LabelsType != "uint8" {
		return nil, fmt.Errorf("--labels-type %q: want int64 or uint8", o.LabelsType)
	}
	bb, err := onnx.Load(cfg.Backbone)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", run, err)
	}
	if sha, err := onnx.Sha256(cfg.Backbone); err != nil || sha != cfg.BackboneSHA256 {
		return nil, fmt.Errorf("run %s was trained on a backbone with sha256 %.12s…, but %s differs now; restore the original file", run, cfg.BackboneSHA256, cfg.Backbone)
	}
	if onnx.Opset(bb.Proto) < 13 {
		return nil, fmt.Errorf("%s has opset %d; export needs opset >= 13 (re-export the backbone with a newer opset)", cfg.Backbone, onnx.Opset(bb.Proto))
	}
	ins := onnx.RealInputs(bb.Proto.GetGraph())
	if len(ins) == 0 {
		return nil, fmt.Errorf("%s has no inputs", cfg.Backbone)
	}
	image := ins[0].GetName()
	hn, hi, err := head.ToONNX(cfg.Feature, headLogits, "lmpseg_head_")
	if err != nil {
		return nil, err
	}
	// model is what is written; checked is the graph whose logits the parity check compares with
	// the Go path: model itself for logits and head-only exports, else the same graph ending at the
	// upsampled logits, built from the same cut and written next to out only for the check.
	var model, checked *onnx.Model
	if o.HeadOnly {
		model = &onnx.Model{Proto: headOnlyModel(bb, cfg, hn, hi)}
		checked = model
	} else {
		cut, err := onnx.Cut(bb, cfg.Feature)
		if err != nil {
			return nil, err
		}
		rn, ri := resizeNodes(image, headLogits, "logits")
		nodes := append(append([]*pb.NodeProto{}, hn...), rn...)
		inits := append(append([]*pb.TensorProto{}, hi...), ri...)
		logitsOut := []*pb.ValueInfoProto{valueInfo("logits", pb.TensorProto_FLOAT, "batch", "classes", "height", "width")}
		if checked, err = onnx.Merge(cut, nodes, inits, logitsOut); err != nil {
			return nil, err
		}
		model = checked
		var outputs []*pb.ValueInfoProto
		switch o.Output {
		case "probs":
			nodes = append(nodes, &pb.NodeProto{Name: "lmpseg_softmax", OpType: "Softmax", Input: []string{"logits"}, Output: []string{"probs"}, Attribute: []*pb.AttributeProto{attrInt("axis", 1)}})
			outputs = []*pb.ValueInfoProto{valueInfo("probs", pb.TensorProto_FLOAT, "batch", "classes", "height", "width")}
		case "labels":
			lab := "labels"
			if o.LabelsType == "uint8" {
				lab = "labels_int64"
			}
			nodes = append(nodes, &pb.NodeProto{Name: "lmpseg_argmax", OpType: "ArgMax", Input: []string{"logits"}, Output: []string{lab}, Attribute: []*pb.AttributeProto{attrInt("axis", 1), attrInt("keepdims", 1)}})
			et := pb.TensorProto_INT64
			if o.LabelsType == "uint8" {
				nodes = append(nodes, &pb.NodeProto{Name: "lmpseg_cast", OpType: "Cast", Input: []string{lab}, Output: []string{"labels"}, Attribute: []*pb.AttributeProto{attrInt("to", int64(pb.TensorProto_UINT8))}})
				et = pb.TensorProto_UINT8
			}
			outputs = []*pb.ValueInfoProto{valueInfo("labels", et, "batch", "one", "height", "width")}
		}
		if outputs != nil {
			if model, err = onnx.Merge(cut, nodes, inits, outputs); err != nil {
				return nil, err
			}
		}
	}
	setMetadata(model.Proto, cfg, o.Output)
	if err := model.Save(out); err != nil {
		return nil, err
	}
	res := &exportResult{Nodes: len(model.Proto.GetGraph().GetNode()), Opset: onnx.Opset(model.Proto)}
	checkPath := out
	if checked != model {
		checkPath = strings.TrimSuffix(out, filepath.Ext(out)) + ".parity-check.onnx"
		defer os.Remove(checkPath)
		if err := checked.Save(checkPath); err != nil {
			os.Remove(out)
			return nil, err
		}
	}
	d, n, err := parity(checkPath, cfg, head, o)
	if err != nil {
		os.Remove(out)
		return nil, err
	}
	res.MaxDiff, res.Values = d, n
	if !(d <= o.Tol) {
		os.Remove(out)
		return nil, fmt.Errorf("export parity check failed: the exported model and the Go path differ by %.3g (max abs logit) > %.0e; the file was not kept", d, o.Tol)
	}
	return res, nil
}

func headOnlyModel(bb *onnx.Model, cfg *train.Config, nodes []*pb.NodeProto, inits []*pb.TensorProto) *pb.ModelProto {
	return &pb.ModelProto{
		IrVersion: bb.Proto.GetIrVersion(), OpsetImport: bb.Proto.GetOpsetImport(), ProducerName: "lmpseg", ProducerVersion: Version,
		Graph: &pb.GraphProto{Name: "lmpseg_head", Node: nodes, Initializer: inits,
			Input:  []*pb.ValueInfoProto{valueInfo(cfg.Feature, pb.TensorProto_FLOAT, "batch", "channels", "fh", "fw")},
			Output: []*pb.ValueInfoProto{valueInfo(headLogits, pb.TensorProto_FLOAT, "batch", "classes", "fh", "fw")}},
	}
}

func setMetadata(m *pb.ModelProto, cfg *train.Config, output string) {
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	pal := paletteRGB(data.PaletteFor(cfg.Classes))
	kv := map[string]string{
		infer.KeyClasses: js(cfg.Classes), infer.KeyPalette: js(pal), infer.KeyPreprocess: js(cfg.Preprocess),
		infer.KeyFeature: cfg.Feature, infer.KeyOutput: output, infer.KeyHead: js(cfg.Head), infer.KeyLoss: js(cfg.Loss),
		infer.KeyVersion: Version,
	}
	var keep []*pb.StringStringEntryProto
	for _, p := range m.GetMetadataProps() {
		if _, ours := kv[p.GetKey()]; !ours {
			keep = append(keep, p)
		}
	}
	for _, k := range []string{infer.KeyClasses, infer.KeyPalette, infer.KeyPreprocess, infer.KeyFeature, infer.KeyOutput, infer.KeyHead, infer.KeyLoss, infer.KeyVersion} {
		keep = append(keep, &pb.StringStringEntryProto{Key: k, Value: kv[k]})
	}
	m.MetadataProps = keep
	m.ProducerName, m.ProducerVersion = "lmpseg", Version
}

// parity runs the exported model and the Go path on a deterministic probe input and returns the
// largest absolute logit difference and the number of values compared.
func parity(path string, cfg *train.Config, head *graph.Head, o exportOptions) (float64, int, error) {
	h, w := o.ProbeH, o.ProbeW
	if cfg.Crop[0] > 0 && o.ProbeH == 0 {
		h, w = cfg.Crop[0], cfg.Crop[1]
	}
	x := make([]float32, 3*h*w)
	for i := range x { // a smooth deterministic pattern with some texture
		y, xx, ch := (i/w)%h, i%w, i/(h*w)
		x[i] = float32(math.Sin(float64(y)*0.11+float64(ch))*1.2 + math.Cos(float64(xx)*0.07)*0.8)
	}
	bo := o.Backbone
	bo.Feature = cfg.Feature
	bb, err := onnx.OpenBackbone(cfg.Backbone, bo)
	if err != nil {
		return 0, 0, err
	}
	defer bb.Close()
	feat, shape, err := bb.Run(x, 1, h, w)
	if err != nil {
		return 0, 0, fmt.Errorf("parity check: backbone: %w", err)
	}
	ft := &graph.Tensor{N: 1, C: int(shape[1]), H: int(shape[2]), W: int(shape[3]), Data: feat}
	goLogits := head.Forward(ft, false)
	mo := o.Backbone
	mo.Feature = ""
	in, fh, fw := x, h, w
	want := goLogits
	if !o.HeadOnly {
		up := graph.NewTensor(1, goLogits.C, h, w)
		graph.ResizeBilinear(up, goLogits)
		want = up
	} else {
		in, fh, fw = feat, ft.H, ft.W
	}
	sess, err := onnx.OpenBackbone(path, mo)
	if err != nil {
		return 0, 0, fmt.Errorf("parity check: onnxruntime cannot open the exported model: %w", err)
	}
	defer sess.Close()
	var got []float32
	if o.HeadOnly {
		var outs []onnx.Output
		if outs, err = sess.Session().Run(in, 1, ft.C, fh, fw); err == nil {
			got = outs[0].Data
		}
	} else {
		got, _, err = sess.Run(in, 1, fh, fw)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("parity check: running the exported model: %w", err)
	}
	if len(got) != len(want.Data) {
		return 0, 0, fmt.Errorf("parity check: exported model gives %d values, the Go path %d", len(got), len(want.Data))
	}
	var d float64
	for i, v := range got {
		d = math.Max(d, math.Abs(float64(v-want.Data[i])))
		if math.IsNaN(float64(v)) {
			d = math.Inf(1)
		}
	}
	return d, len(got), nil
}
