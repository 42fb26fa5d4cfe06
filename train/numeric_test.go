package train_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
	"github.com/lmpseg/lmpseg/train"
)

// nanBackbone writes a model whose features are log(0*x - 1): NaN everywhere.
func nanBackbone(t *testing.T) string {
	t.Helper()
	g := &pb.GraphProto{
		Name: "nan",
		Node: []*pb.NodeProto{
			onnx.Node("Mul", "zero_x", []string{"image", "zero"}, []string{"zx"}),
			onnx.Node("Sub", "minus_one", []string{"zx", "one"}, []string{"neg"}),
			onnx.Node("Log", "log", []string{"neg"}, []string{"feat"}),
		},
		Initializer: []*pb.TensorProto{onnx.FloatTensor("zero", nil, []float32{0}), onnx.FloatTensor("one", nil, []float32{1})},
		Input:       []*pb.ValueInfoProto{onnx.ValueInfo("image", pb.TensorProto_FLOAT, "n", 3, "h", "w")},
		Output:      []*pb.ValueInfoProto{onnx.ValueInfo("feat", pb.TensorProto_FLOAT, "n", 3, "h", "w")},
	}
	m := &onnx.Model{Proto: &pb.ModelProto{IrVersion: 8, OpsetImport: []*pb.OperatorSetIdProto{{Version: 17}}, Graph: g}}
	p := filepath.Join(t.TempDir(), "nan.onnx")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNaNStopSaysNoCheckpoint checks that a run stopped by a NaN before its first checkpoint does
// not point the user at a last.ckpt that was never written.
func TestNaNStopSaysNoCheckpoint(t *testing.T) {
	initORT(t)
	ds := legacyData(t)
	rc := &train.Config{
		Backbone: nanBackbone(t), Preprocess: data.ImageNet, Data: filepath.Join(ds, "train"), Ignore: 255,
		Head: graph.HeadSpec{Kind: "linear"}, Loss: train.LossConfig{Name: "ce"}, Optim: train.OptimConfig{Name: "sgd"},
		LR: 0.01, Iters: 4, Batch: 1, Scale: [2]float64{1, 1}, Seed: 1, CkptEvery: 2,
	}
	_, err := train.Run(context.Background(), filepath.Join(t.TempDir(), "run"), rc, train.Options{Threads: 1})
	var ne *train.NumericError
	if !errors.As(err, &ne) {
		t.Fatalf("got %v, want a NumericError", err)
	}
	if strings.Contains(err.Error(), "last good checkpoint") || !strings.Contains(err.Error(), "no checkpoint") {
		t.Fatalf("error %q should say that no checkpoint was written", err)
	}
}
