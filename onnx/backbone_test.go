package onnx

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

var dynSpec = netSpec{channels: []int{4, 6, 8}}

func TestBackboneMatchesReference(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	mp := buildNet(dynSpec)
	p := writeModel(t, dir, "dyn.onnx", mp)
	cases := []struct {
		feature string
		stage   int // 0: logits
		n, h, w int
		threads int
	}{
		{"stage2", 2, 1, 32, 32, 0},
		{"stage2", 2, 2, 40, 24, 1},
		{"stage1", 1, 1, 17, 29, 2},
		{"stage3", 3, 3, 64, 48, 0},
		{"", 0, 2, 32, 16, 0},
		{"logits", 0, 1, 9, 13, 0},
	}
	for _, c := range cases {
		b, err := OpenBackbone(p, Options{Feature: c.feature, Threads: c.threads})
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		x := ramp(c.n * 3 * c.h * c.w)
		got, shape, err := b.Run(x, c.n, c.h, c.w)
		if err != nil {
			t.Errorf("%+v: %v", c, err)
			b.Close()
			continue
		}
		var want []float32
		var wantShape []int64
		if c.stage > 0 {
			want, wantShape = refStage(mp, dynSpec, c.stage, x, c.n, c.h, c.w)
		} else {
			want, wantShape = refLogits(mp, dynSpec, x, c.n, c.h, c.w), []int64{int64(c.n), 5}
		}
		if !slices.Equal(shape, wantShape) {
			t.Errorf("%+v: shape %v, want %v", c, shape, wantShape)
		} else if d := maxAbsDiff(got, want); d > 1e-4 {
			t.Errorf("%+v: max abs difference to the reference %g", c, d)
		}
		if err := b.Close(); err != nil {
			t.Errorf("%+v: close: %v", c, err)
		}
	}
}

func TestBackboneStaticShape(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	spec := netSpec{static: []int64{1, 3, 32, 64}, channels: []int{4, 8}}
	mp := buildNet(spec)
	p := writeModel(t, dir, "static.onnx", mp)
	b := openBackbone(t, p, Options{Feature: "stage2"})
	x := ramp(3 * 32 * 64)
	got, shape, err := b.Run(x, 1, 32, 64)
	if err != nil {
		t.Fatal(err)
	}
	want, wantShape := refStage(mp, spec, 2, x, 1, 32, 64)
	if !slices.Equal(shape, wantShape) || maxAbsDiff(got, want) > 1e-4 {
		t.Errorf("static model: shape %v (want %v), diff %g", shape, wantShape, maxAbsDiff(got, want))
	}
	bad := []struct{ n, h, w int }{{1, 64, 32}, {1, 32, 65}}
	for _, c := range bad {
		_, _, err := b.Run(ramp(c.n*3*c.h*c.w), c.n, c.h, c.w)
		want := fmt.Sprintf("expects shape [1 3 32 64], given [%d 3 %d %d]", c.n, c.h, c.w)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("batch %+v: error %v, want one line containing %q", c, err, want)
		}
	}
	if _, _, err := b.Run(ramp(10), 1, 32, 64); err == nil {
		t.Error("Run with a short buffer succeeded")
	}
}

func TestBackboneErrors(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	p := writeModel(t, dir, "m.onnx", buildNet(dynSpec))
	cases := []struct {
		o    Options
		want []string
	}{
		{Options{Feature: "stage4"}, []string{`tensor "stage4" does not exist`, "stage1", "stage2", "stage3"}},
		{Options{Feature: "logit"}, []string{"nearest names: logits"}},
		{Options{Device: "cuda"}, []string{"lacks the CUDA execution provider", "libonnxruntime", "1.24.x", "docs/gpu.md"}},
		{Options{Device: "cuda:1"}, []string{"lacks the CUDA execution provider", "--device cuda:1"}},
		{Options{Device: "tpu"}, []string{`bad device "tpu"`}},
		{Options{Device: "cuda:x"}, []string{`bad device "cuda:x"`}},
		{Options{Threads: -1}, []string{"threads"}},
	}
	for _, c := range cases {
		b, err := OpenBackbone(p, c.o)
		if err == nil {
			if c.o.Device == "cuda" || c.o.Device == "cuda:1" {
				b.Close()
				t.Logf("%+v: the library has a CUDA provider; skipping the error check", c.o)
				continue
			}
			b.Close()
			t.Errorf("%+v: no error", c.o)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%+v: error spans lines: %q", c.o, msg)
		}
		checkContains(t, fmt.Sprintf("%+v: error", c.o), msg, c.want)
	}
	if _, err := OpenBackbone(filepath.Join(dir, "none.onnx"), Options{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing model: %v", err)
	}
	// A model with two image inputs is refused.
	mp := buildNet(dynSpec)
	mp.Graph.Input = append(mp.Graph.Input, FloatValueInfo("other", []int64{1}))
	p2 := writeModel(t, dir, "two.onnx", mp)
	if _, err := OpenBackbone(p2, Options{}); err == nil || !strings.Contains(err.Error(), "2 inputs") {
		t.Errorf("two inputs: %v", err)
	}
	// A model onnxruntime refuses gives its reason on one line.
	mp3 := buildNet(dynSpec)
	mp3.Graph.Node[1].OpType = "NoSuchOp"
	p3 := writeModel(t, dir, "badop.onnx", mp3)
	for _, feature := range []string{"", "stage2"} {
		_, err := OpenBackbone(p3, Options{Feature: feature})
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "creating onnxruntime session") || !strings.Contains(err.Error(), "NoSuchOp") {
			t.Errorf("unknown op, feature %q: %v", feature, err)
		}
	}
	// A batch a dynamic model cannot run gives an onnxruntime error on one line.
	b := openBackbone(t, p, Options{Feature: "stage1"})
	b.s.nchwDims = nil // let a wrong channel count through to onnxruntime
	_, err := b.s.Run(ramp(2*5*8*8), 2, 5, 8, 8)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "onnx: running the model") {
		t.Errorf("wrong channel count: %v", err)
	}
}

func TestBackboneNoLeak(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	p := writeModel(t, dir, "m.onnx", buildNet(dynSpec))
	before := liveValues.Load()
	g0 := runtime.NumGoroutine()
	for k := 0; k < 5; k++ {
		b, err := OpenBackbone(p, Options{Feature: "stage2", Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					h := 16 + 8*((i+g)%4)
					if _, _, err := b.Run(ramp(2*3*h*24), 2, h, 24); err != nil {
						t.Error(err)
						return
					}
				}
			}(g)
		}
		wg.Wait()
		if n := liveValues.Load(); n != before {
			t.Fatalf("round %d: %d onnxruntime values alive after the runs, want %d", k, n, before)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, _, err := b.Run(ramp(3*16*16), 1, 16, 16); err == nil {
			t.Error("Run after Close succeeded")
		}
	}
	if g := runtime.NumGoroutine(); g > g0+2 {
		t.Errorf("%d goroutines after the runs, %d before", g, g0)
	}
}

func TestBackboneExternalData(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	mp := buildNet(dynSpec)
	x := ramp(2 * 3 * 24 * 40)
	want, wantShape := refStage(mp, dynSpec, 2, x, 2, 24, 40)
	externalize(t, mp, dir, "weights/all.bin")
	p := writeModel(t, dir, "ext.onnx", mp)
	for _, feature := range []string{"stage2", "logits"} {
		got, shape := runOnce(t, feature, p, Options{Feature: feature}, x, 2, 24, 40)
		if feature == "stage2" && (!slices.Equal(shape, wantShape) || maxAbsDiff(got, want) > 1e-4) {
			t.Errorf("external data: shape %v (want %v), diff %g", shape, wantShape, maxAbsDiff(got, want))
		}
	}
	// A relative model path resolves the external data too.
	t.Chdir(dir)
	rb, err := OpenBackbone("ext.onnx", Options{Feature: "stage2"})
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	got, _, err := rb.Run(x, 2, 24, 40)
	rb.Close()
	if err != nil || maxAbsDiff(got, want) > 1e-4 {
		t.Errorf("relative path: err %v diff %g", err, maxAbsDiff(got, want))
	}
	// Cut in memory and saved elsewhere: external data still resolves.
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := Cut(m, "stage2")
	if err != nil {
		t.Fatal(err)
	}
	// runCut runs b, opened with error err, then closes it.
	runCut := func(what string, b *Backbone, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := b.Run(x, 2, 24, 40)
		b.Close()
		if err != nil || maxAbsDiff(got, want) > 1e-4 {
			t.Errorf("%s: err %v diff %g", what, err, maxAbsDiff(got, want))
		}
	}
	b, err := NewBackbone(cut, Options{})
	runCut("cut in memory", b, err)
	out := filepath.Join(t.TempDir(), "cut.onnx")
	if err := cut.Save(out); err != nil {
		t.Fatal(err)
	}
	b, err = OpenBackbone(out, Options{})
	runCut("cut saved elsewhere", b, err)
}

// TestSessionOutputTypes runs a model whose outputs are float logits, an
// int64 label map and a uint8 label map.
func TestSessionOutputTypes(t *testing.T) {
	needRuntime(t)
	spec := netSpec{channels: []int{4, 6}}
	mp := buildNet(spec)
	m := &Model{Proto: mp}
	cut, err := Cut(m, "stage2")
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*pb.NodeProto{
		{Name: "argmax", OpType: "ArgMax", Input: []string{"stage2"}, Output: []string{"labels"},
			Attribute: []*pb.AttributeProto{intAttr("axis", 1), intAttr("keepdims", 0)}},
		{Name: "cast", OpType: "Cast", Input: []string{"labels"}, Output: []string{"labels_u8"},
			Attribute: []*pb.AttributeProto{intAttr("to", int64(pb.TensorProto_UINT8))}},
	}
	outs := []*pb.ValueInfoProto{
		FloatValueInfo("stage2", []int64{0, 6, 0, 0}),
		TensorValueInfo("labels", int32(pb.TensorProto_INT64), []int64{0, 0, 0}, nil),
		TensorValueInfo("labels_u8", int32(pb.TensorProto_UINT8), []int64{0, 0, 0}, nil),
	}
	merged, err := Merge(cut, nodes, nil, outs)
	if err != nil {
		t.Fatal(err)
	}
	res, want, sh := runMerged(t, merged, mp, spec, 2, 20, 28)
	c, hw := int(sh[1]), int(sh[2]*sh[3])
	wantLab := make([]float32, 2*hw)
	for i := 0; i < 2; i++ {
		for q := 0; q < hw; q++ {
			best := 0
			for k := 1; k < c; k++ {
				if want[(i*c+k)*hw+q] > want[(i*c+best)*hw+q] {
					best = k
				}
			}
			wantLab[i*hw+q] = float32(best)
		}
	}
	types := []string{"float32", "int64", "uint8"}
	for i, o := range res {
		if o.Type != types[i] || o.Name != outs[i].Name {
			t.Errorf("output %d: %s of type %s, want %s of type %s", i, o.Name, o.Type, outs[i].Name, types[i])
		}
	}
	if d := maxAbsDiff(res[0].Data, want); d > 1e-4 {
		t.Errorf("float output differs by %g", d)
	}
	for i := 1; i < 3; i++ {
		mism := 0
		for q := range wantLab {
			if res[i].Data[q] != wantLab[q] {
				mism++
			}
		}
		// Ties between near-equal logits may break differently.
		if mism > len(wantLab)/100 || len(res[i].Data) != len(wantLab) {
			t.Errorf("%s: %d of %d labels differ from the reference argmax", res[i].Name, mism, len(wantLab))
		}
	}
}
