package onnx

import (
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// netSpec describes a small test network: convolution stages with stride 2
// and Relu, then a classifier (GlobalAveragePool, Flatten, Gemm).
type netSpec struct {
	static   []int64 // static input shape, nil for dynamic N, H, W
	channels []int   // output channels of each stage
	classes  int
	opset    int64
	extraInt bool // add an unused Shape node producing an int64 tensor
}

// lcg is a tiny deterministic generator for test weights.
type lcg uint64

func (r *lcg) next() float32 {
	*r = *r*6364136223846793005 + 1442695040888963407
	return float32(int64(*r>>40)%2001-1000) / 4000
}

func floatTensor(name string, dims []int64, r *lcg) *pb.TensorProto {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	raw := make([]byte, 4*n)
	for i := int64(0); i < n; i++ {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(r.next()))
	}
	return &pb.TensorProto{Name: name, Dims: dims, DataType: int32(pb.TensorProto_FLOAT), RawData: raw}
}

func intAttr(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INT, I: v}
}

func intsAttr(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INTS, Ints: v}
}

// buildNet returns the model of s. Stage i's output is named "stageI"
// (I from 1) and has stride 2^I; the classifier output is "logits".
func buildNet(s netSpec) *pb.ModelProto {
	if s.opset == 0 {
		s.opset = 17
	}
	if s.classes == 0 {
		s.classes = 5
	}
	r := lcg(12345)
	var in *pb.ValueInfoProto
	if s.static != nil {
		in = FloatValueInfo("image", s.static)
	} else {
		in = TensorValueInfo("image", int32(pb.TensorProto_FLOAT), []int64{0, 3, 0, 0}, []string{"batch", "", "height", "width"})
	}
	g := &pb.GraphProto{Name: "tiny", Input: []*pb.ValueInfoProto{in}}
	prev, pc := "image", int64(3)
	for i, c := range s.channels {
		w := floatTensor(name("w", i+1), []int64{int64(c), pc, 3, 3}, &r)
		b := floatTensor(name("b", i+1), []int64{int64(c)}, &r)
		g.Initializer = append(g.Initializer, w, b)
		conv := name("conv", i+1)
		g.Node = append(g.Node, &pb.NodeProto{
			Name: conv + "_node", OpType: "Conv", Input: []string{prev, w.Name, b.Name}, Output: []string{conv},
			Attribute: []*pb.AttributeProto{intsAttr("kernel_shape", 3, 3), intsAttr("strides", 2, 2), intsAttr("pads", 1, 1, 1, 1)},
		})
		out := name("stage", i+1)
		g.Node = append(g.Node, &pb.NodeProto{Name: out + "_relu", OpType: "Relu", Input: []string{conv}, Output: []string{out}})
		prev, pc = out, int64(c)
	}
	fw := floatTensor("fc_w", []int64{int64(s.classes), pc}, &r)
	fb := floatTensor("fc_b", []int64{int64(s.classes)}, &r)
	g.Initializer = append(g.Initializer, fw, fb)
	g.Node = append(g.Node,
		&pb.NodeProto{Name: "gap", OpType: "GlobalAveragePool", Input: []string{prev}, Output: []string{"pooled"}},
		&pb.NodeProto{Name: "flat", OpType: "Flatten", Input: []string{"pooled"}, Output: []string{"flat"}},
		&pb.NodeProto{Name: "fc", OpType: "Gemm", Input: []string{"flat", "fc_w", "fc_b"}, Output: []string{"logits"},
			Attribute: []*pb.AttributeProto{intAttr("transB", 1)}},
	)
	g.Output = []*pb.ValueInfoProto{TensorValueInfo("logits", int32(pb.TensorProto_FLOAT), []int64{0, int64(s.classes)}, []string{"batch", ""})}
	if s.extraInt {
		g.Node = append(g.Node, &pb.NodeProto{Name: "shape", OpType: "Shape", Input: []string{"image"}, Output: []string{"image_shape"}})
		g.Output = append(g.Output, TensorValueInfo("image_shape", int32(pb.TensorProto_INT64), []int64{4}, nil))
	}
	return &pb.ModelProto{
		IrVersion:     8,
		ProducerName:  "lmpseg-test",
		OpsetImport:   []*pb.OperatorSetIdProto{{Domain: "", Version: s.opset}},
		Graph:         g,
		MetadataProps: []*pb.StringStringEntryProto{{Key: "purpose", Value: "test"}},
	}
}

func name(p string, i int) string { return p + string(rune('0'+i)) }

// openBackbone opens the backbone at path with o, failing the test on an
// error, and closes it when the test ends.
func openBackbone(t testing.TB, path string, o Options) *Backbone {
	t.Helper()
	b, err := OpenBackbone(path, o)
	return closeAtEnd(t, b, err)
}

// openSession opens a session on the model at path with o, failing the
// test on an error, and closes it when the test ends.
func openSession(t testing.TB, path string, o Options) *Session {
	t.Helper()
	s, err := OpenSession(path, o)
	return closeAtEnd(t, s, err)
}

// runMerged saves m, runs it on n ramp images of h×w and returns its
// outputs with the stage-2 features refStage computes from mp and spec for
// the same input.
func runMerged(t testing.TB, m *Model, mp *pb.ModelProto, spec netSpec, n, h, w int) ([]Output, []float32, []int64) {
	t.Helper()
	s := saveSession(t, m, "merged.onnx", Options{})
	x := ramp(n * 3 * h * w)
	res, err := s.Run(x, n, 3, h, w)
	if err != nil {
		t.Fatal(err)
	}
	f, sh := refStage(mp, spec, 2, x, n, h, w)
	return res, f, sh
}

// runOnce opens the backbone at path with o, runs it once on x and closes
// it. An error fails the test, labelled with what.
func runOnce(t testing.TB, what, path string, o Options, x []float32, n, h, w int) ([]float32, []int64) {
	t.Helper()
	b, err := OpenBackbone(path, o)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got, shape, err := b.Run(x, n, h, w)
	b.Close()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return got, shape
}

// checkContains reports each of wants that got lacks, labelled with what.
func checkContains(t testing.TB, what, got string, wants []string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s: %q lacks %q", what, got, w)
		}
	}
}

// closeAtEnd fails the test if err, the error of opening c, is not nil;
// else it closes c when the test ends and returns it.
func closeAtEnd[C io.Closer](t testing.TB, c C, err error) C {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// saveSession saves m as file in a temporary folder and opens a session on
// it as openSession does.
func saveSession(t testing.TB, m *Model, file string, o Options) *Session {
	t.Helper()
	p := filepath.Join(t.TempDir(), file)
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	return openSession(t, p, o)
}

// writeModel saves mp under dir and returns its path.
func writeModel(t testing.TB, dir, file string, mp *pb.ModelProto) string {
	t.Helper()
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, file, b)
}

// writeFile writes b as file under dir and returns its path.
func writeFile(t testing.TB, dir, file string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// externalize moves the raw data of every initializer of mp into the file
// dataFile under dir, referenced relative to dir.
func externalize(t testing.TB, mp *pb.ModelProto, dir, dataFile string) {
	t.Helper()
	var blob []byte
	for _, in := range mp.Graph.Initializer {
		off := len(blob)
		blob = append(blob, in.RawData...)
		in.ExternalData = []*pb.StringStringEntryProto{
			{Key: "location", Value: dataFile},
			{Key: "offset", Value: itoa(off)},
			{Key: "length", Value: itoa(len(in.RawData))},
		}
		in.RawData = nil
		in.DataLocation = pb.TensorProto_EXTERNAL
	}
	p := filepath.Join(dir, filepath.FromSlash(dataFile))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, blob, 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// needRuntime initializes onnxruntime or skips the test with the reason.
func needRuntime(t testing.TB) {
	t.Helper()
	if _, err := InitRuntime(""); err != nil {
		t.Skipf("onnxruntime not available: %v", err)
	}
}

// ramp returns n values with a deterministic pattern.
func ramp(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32((i*7919)%255) / 255
	}
	return x
}
