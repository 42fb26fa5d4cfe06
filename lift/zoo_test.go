package lift

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

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

// TestZoo lifts the decoders of torchvision's segmentation models exported
// to ONNX (the folder in $LMPSEG_ZOO; skipped without it) and compares the
// lifted forward with onnxruntime, then a trained and exported tail with
// the lifted forward.
func TestZoo(t *testing.T) {
	dir := os.Getenv("LMPSEG_ZOO")
	if dir == "" {
		t.Skip("LMPSEG_ZOO is not set")
	}
	needRuntime(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	for _, f := range files {
		base := filepath.Base(f)
		if !(strings.HasPrefix(base, "lraspp") || strings.HasPrefix(base, "deeplabv3") || strings.HasPrefix(base, "fcn")) ||
			strings.Contains(base, "fp16") || strings.Contains(base, "nhwc") {
			continue
		}
		if p := os.Getenv("LMPSEG_ZOO_MATCH"); p != "" && !strings.Contains(base, p) {
			continue
		}
		m, err := onnx.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		from := zooFrom(m.Proto.GetGraph())
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
			t.Errorf("%s from %s: %v", base, from, err)
			continue
		}
		rng := rand.New(rand.NewPCG(1, 1))
		const n = 1
		x := randData(rng, n*3*h*w)
		for i := range x {
			x[i] *= 0.5
		}
		res := runORT(t, m, append(net.Inputs(), net.Output()), x, n, h, w)
		y := net.ForwardInputs(res[:len(res)-1], false)
		d := relDiff(y, res[len(res)-1])
		t.Logf("%s: lifted from %s (inputs %v, %d nodes, %d params): max relative difference %.2g", base, from, net.Inputs(), len(net.nodes), len(net.Params()), d)
		if !(d < 1e-4) {
			t.Errorf("%s: lifted forward differs from onnxruntime by %.3g", base, d)
		}
		// Lift deeper, from inside the backbone (residual blocks,
		// depthwise convolutions, squeeze-and-excitation gates).
		if deep := deepFrom(m.Proto.GetGraph(), from); deep != "" {
			dn, err := Lift(m, deep, Options{Output: out, H: h, W: w, Threads: 2})
			if err != nil {
				t.Errorf("%s from %s: %v", base, deep, err)
			} else {
				r := runORT(t, m, append(dn.Inputs(), dn.Output()), x, n, h, w)
				d := relDiff(dn.ForwardInputs(r[:len(r)-1], false), r[len(r)-1])
				t.Logf("%s: lifted from %s (%d inputs, %d nodes, %d params): max relative difference %.2g", base, deep, len(dn.Inputs()), len(dn.nodes), len(dn.Params()), d)
				if !(d < 1e-4) {
					t.Errorf("%s from %s: lifted forward differs from onnxruntime by %.3g", base, deep, d)
				}
				if onnx.Opset(m.Proto) >= onnx.MinOpset {
					merged := mergeExport(t, m, dn, deep, "deep_out", "deep/", base)
					d := relDiff(runORT(t, merged, nil, x, n, h, w)[0], r[len(r)-1])
					t.Logf("%s: deep export vs onnxruntime: %.2g", base, d)
					if !(d < 1e-4) {
						t.Errorf("%s from %s: exported deep tail differs by %.3g", base, deep, d)
					}
				}
			}
		}
		if onnx.Opset(m.Proto) < onnx.MinOpset {
			t.Logf("%s: opset %d: onnx.Merge needs %d, export not checked", base, onnx.Opset(m.Proto), onnx.MinOpset)
			continue
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
		d = relDiff(want, got)
		t.Logf("%s: 5-class trained export vs lifted forward: %.2g (%v vs %v)", base, d, []int{want.N, want.C, want.H, want.W}, []int{got.N, got.C, got.H, got.W})
		if !(d < 1e-4) {
			t.Errorf("%s: exported model differs from the lifted forward by %.3g", base, d)
		}
	}
}
