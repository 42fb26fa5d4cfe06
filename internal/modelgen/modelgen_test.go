package modelgen

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/internal/ortest"
)

const testdataDir = "../../testdata/models"

func TestTestdataUpToDate(t *testing.T) {
	for name, m := range Testdata() {
		got, err := Marshal(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := os.ReadFile(filepath.Join(testdataDir, name))
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./internal/modelgen)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: regenerated model differs from the committed file (%d vs %d bytes); run go generate ./internal/modelgen", name, len(got), len(want))
		}
		if len(got) > 200<<10 {
			t.Errorf("%s: %d bytes, want < 200 KB", name, len(got))
		}
	}
}

func TestModelIdentity(t *testing.T) {
	for name, m := range Testdata() {
		if m.IrVersion != 8 || m.ProducerName != "lmpseg-modelgen" {
			t.Errorf("%s: ir_version %d producer %q", name, m.IrVersion, m.ProducerName)
		}
		if len(m.OpsetImport) != 1 || m.OpsetImport[0].Domain != "" || m.OpsetImport[0].Version != 17 {
			t.Errorf("%s: opset imports %v", name, m.OpsetImport)
		}
		meta := map[string]string{}
		for _, p := range m.MetadataProps {
			meta[p.Key] = p.Value
		}
		var pre data.Preprocess
		if err := json.Unmarshal([]byte(meta[MetaPreprocess]), &pre); err != nil {
			t.Errorf("%s: metadata %s = %q: %v", name, MetaPreprocess, meta[MetaPreprocess], err)
		}
		want := data.Preprocess{Mean: [3]float32{123.675, 116.28, 103.53}, Std: [3]float32{58.395, 57.12, 57.375}, Range: "0-255", Channels: "RGB"}
		if pre != want {
			t.Errorf("%s: metadata %s = %+v, want %+v", name, MetaPreprocess, pre, want)
		}
		for _, in := range m.Graph.Initializer {
			if in.DataType == int32(pb.TensorProto_FLOAT) && (len(in.RawData) == 0 || len(in.FloatData) != 0) {
				t.Errorf("%s: initializer %s not stored as raw_data", name, in.Name)
			}
		}
		// Round trip through the wire format.
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back pb.ModelProto
		if err := proto.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !proto.Equal(m, &back) {
			t.Errorf("%s: round trip changed the model", name)
		}
	}
}

func TestGabor(t *testing.T) {
	for _, c := range []struct {
		theta, lambda float64
		odd           bool
	}{{0, 4, false}, {0, 4, true}, {math.Pi / 4, 4, false}, {math.Pi / 2, 6, true}} {
		g := Gabor(9, c.theta, c.lambda, 2, c.odd)
		var sum, resp float64
		ct, st := math.Cos(c.theta), math.Sin(c.theta)
		for i := range 9 {
			for j := range 9 {
				u := float64(j-4)*ct + float64(i-4)*st
				ph := 2 * math.Pi * u / c.lambda
				s := math.Cos(ph)
				if c.odd {
					s = math.Sin(ph)
				}
				sum += float64(g[i*9+j])
				resp += float64(g[i*9+j]) * s
			}
		}
		if math.Abs(sum) > 1e-5 || math.Abs(resp-1) > 1e-5 {
			t.Errorf("%+v: sum %g, matched response %g", c, sum, resp)
		}
	}
}

// initORT loads onnxruntime or skips the test.
var initORT = ortest.Init

// withOutputs returns a copy of m whose graph also outputs the named tensors.
func withOutputs(m *pb.ModelProto, names ...string) *pb.ModelProto {
	c := proto.Clone(m).(*pb.ModelProto)
	for _, n := range names {
		c.Graph.Output = append(c.Graph.Output, &pb.ValueInfoProto{Name: n, Type: &pb.TypeProto{
			Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: int32(pb.TensorProto_FLOAT)}}}})
	}
	return c
}

// tensor is one output of a run.
type tensor struct {
	shape []int64
	data  []float32
}

// session opens an onnxruntime session on m with the input "image", the outputs outs and
// threads intra-op threads. The caller destroys it.
func session(tb testing.TB, m *pb.ModelProto, threads int, outs []string) *ort.DynamicAdvancedSession {
	tb.Helper()
	data, err := Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		tb.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		tb.Fatal(err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data, []string{"image"}, outs, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// runModel runs m on x with the given shape and returns the named outputs.
func runModel(tb testing.TB, m *pb.ModelProto, threads int, shape []int64, x []float32, outs []string) []tensor {
	tb.Helper()
	s := session(tb, m, threads, outs)
	defer s.Destroy()
	in, err := ort.NewTensor(ort.NewShape(shape...), x)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Destroy()
	res := make([]ort.Value, len(outs))
	if err := s.Run([]ort.Value{in}, res); err != nil {
		tb.Fatal(err)
	}
	got := make([]tensor, len(outs))
	for i, v := range res {
		tt, ok := v.(*ort.Tensor[float32])
		if !ok {
			tb.Fatalf("output %s: not a float32 tensor", outs[i])
		}
		got[i] = tensor{shape: tt.GetShape().Clone(), data: append([]float32(nil), tt.GetData()...)}
		v.Destroy()
	}
	return got
}

// randomImage returns a smooth-ish random image normalised like the models
// expect: a few colour blobs plus noise.
func randomImage(shape []int64) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	n, c, h, w := int(shape[0]), int(shape[1]), int(shape[2]), int(shape[3])
	x := make([]float32, n*c*h*w)
	for i := range n {
		for k := range c {
			fx, fy, ph := rng.Float64()*0.2, rng.Float64()*0.2, rng.Float64()*6
			for y := range h {
				for xx := range w {
					v := math.Sin(fx*float64(xx)+fy*float64(y)+ph) + 0.3*rng.NormFloat64()
					x[((i*c+k)*h+y)*w+xx] = float32(v)
				}
			}
		}
	}
	return x
}

func TestRuntimeShapes(t *testing.T) {
	initORT(t)
	for _, c := range []struct {
		model string
		in    []int64
		outs  map[string][]int64
	}{
		{"tiny_dyn_s4.onnx", []int64{2, 3, 64, 96}, map[string][]int64{
			"out": {2, 5, 64, 96}, "logits": {2, 5, 16, 24}, "feat_s4": {2, 16, 16, 24}, "feat_s2": {2, 8, 32, 48}}},
		{"tiny_dyn_s4.onnx", []int64{1, 3, 37, 50}, map[string][]int64{
			"out": {1, 5, 37, 50}, "feat_s4": {1, 16, 10, 13}}},
		{"tiny_static_s8.onnx", []int64{1, 3, 64, 128}, map[string][]int64{
			"logits": {1, 5, 8, 16}, "feat_s8": {1, 32, 8, 16}, "feat_s4": {1, 16, 16, 32}, "feat_s2": {1, 8, 32, 64}}},
		{"demo_backbone.onnx", []int64{1, 3, 256, 512}, map[string][]int64{
			"logits": {1, DemoClasses, 32, 64}, DemoFeature: {1, DemoChannels, 32, 64}}},
		{"demo_backbone.onnx", []int64{2, 3, 100, 180}, map[string][]int64{
			"logits": {2, DemoClasses, 12, 22}, DemoFeature: {2, DemoChannels, 12, 22}}},
	} {
		m := Testdata()[c.model]
		var names, extra []string
		for n := range c.outs {
			names = append(names, n)
			isOut := false
			for _, o := range m.Graph.Output {
				isOut = isOut || o.Name == n
			}
			if !isOut {
				extra = append(extra, n)
			}
		}
		got := runModel(t, withOutputs(m, extra...), 1, c.in, randomImage(c.in), names)
		for i, n := range names {
			want := c.outs[n]
			if !ort.Shape(got[i].shape).Equals(ort.NewShape(want...)) {
				t.Errorf("%s %v: %s shape %v, want %v", c.model, c.in, n, got[i].shape, want)
				continue
			}
			checkFeature(t, c.model+" "+n, got[i].data, int(want[1]), int(want[2]*want[3]), int(want[0]))
		}
	}
}

// checkFeature checks that a tensor is finite and that every channel varies
// over the batch and space or is at least not all channels constant.
func checkFeature(t *testing.T, name string, x []float32, c, hw, n int) {
	t.Helper()
	constant := 0
	for k := range c {
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := range n {
			for _, v := range x[(i*c+k)*hw : (i*c+k+1)*hw] {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s: non-finite value", name)
				}
				lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
			}
		}
		if hi-lo < 1e-6 {
			constant++
		}
	}
	if constant > c/4 {
		t.Errorf("%s: %d of %d channels constant", name, constant, c)
	}
}

// TestDemoColourChannels checks that the first feature channels of the demo
// backbone are the 8x8 means of R, G, B and luminance of the input, and that
// the Gabor energies answer oriented stripes in the right channel.
func TestDemoColourChannels(t *testing.T) {
	initORT(t)
	shape := []int64{1, 3, 64, 128}
	x := randomImage(shape)
	got := runModel(t, withOutputs(DemoBackbone(), DemoFeature), 1, shape, x, []string{DemoFeature})[0]
	const h, w, hs, ws = 64, 128, 8, 16
	for k, coef := range [][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {float64(Luma[0]), float64(Luma[1]), float64(Luma[2])}} {
		for i := range hs {
			for j := range ws {
				var want float64
				for y := 8 * i; y < 8*i+8; y++ {
					for xx := 8 * j; xx < 8*j+8; xx++ {
						for c := range 3 {
							want += coef[c] * float64(x[(c*h+y)*w+xx])
						}
					}
				}
				want /= 64
				g := float64(got.data[(k*hs+i)*ws+j])
				if math.Abs(g-want) > 1e-4 {
					t.Fatalf("channel %d at (%d,%d): %g, want %g", k, i, j, g, want)
				}
			}
		}
	}

	// Stripes varying along x (theta 0) or along y (theta pi/2), wavelength 8
	// input pixels = 4 pixels at stride 2: texture_hi channel 0 or 2 wins.
	const texHi = 6 + 6 + 7
	for _, c := range []struct {
		alongX bool
		want   int
	}{{true, 0}, {false, 2}} {
		img := make([]float32, 3*h*w)
		for ch := range 3 {
			for y := range h {
				for xx := range w {
					u := y
					if c.alongX {
						u = xx
					}
					img[(ch*h+y)*w+xx] = float32(math.Cos(2 * math.Pi * float64(u) / 8))
				}
			}
		}
		f := runModel(t, withOutputs(DemoBackbone(), DemoFeature), 1, shape, img, []string{DemoFeature})[0]
		var e [4]float64
		for o := range 4 {
			for p := range hs * ws {
				e[o] += float64(f.data[(texHi+o)*hs*ws+p])
			}
		}
		best := 0
		for o := range 4 {
			if e[o] > e[best] {
				best = o
			}
		}
		if best != c.want {
			t.Errorf("stripes alongX=%v: energies %v, strongest %d, want %d", c.alongX, e, best, c.want)
		}
	}
}

func benchmarkForward(b *testing.B, m *pb.ModelProto, h, w int64) {
	initORT(b)
	s := session(b, m, 1, []string{m.Graph.Output[0].Name})
	defer s.Destroy()
	shape := []int64{1, 3, h, w}
	in, err := ort.NewTensor(ort.NewShape(shape...), randomImage(shape))
	if err != nil {
		b.Fatal(err)
	}
	defer in.Destroy()
	b.ResetTimer()
	for b.Loop() {
		res := []ort.Value{nil}
		if err := s.Run([]ort.Value{in}, res); err != nil {
			b.Fatal(err)
		}
		res[0].Destroy()
	}
}

// The demo backbone against the tiny stride-4 model as a baseline, one thread.
func BenchmarkDemoForwardSmall(b *testing.B)    { benchmarkForward(b, DemoBackbone(), 128, 256) }
func BenchmarkDemoForwardLarge(b *testing.B)    { benchmarkForward(b, DemoBackbone(), 256, 512) }
func BenchmarkTinyDynForwardSmall(b *testing.B) { benchmarkForward(b, TinyDynS4(), 128, 256) }
func BenchmarkTinyDynForwardLarge(b *testing.B) { benchmarkForward(b, TinyDynS4(), 256, 512) }
