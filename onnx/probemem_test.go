package onnx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// TestProbeMemory checks that a probe does not hold every intermediate
// tensor at once: the outputs of each probe run must stay under the bytes
// of the largest intermediate tensor, which any forward pass holds too.
func TestProbeMemory(t *testing.T) {
	needRuntime(t)
	spec := netSpec{channels: []int{8, 8, 8, 8}}
	p := writeModel(t, t.TempDir(), "m.onnx", buildNet(spec))
	var peak int64
	probeHeldHook = func(b int64) { peak = max(peak, b) }
	defer func() { probeHeldHook = nil }()
	const h, w = 64, 64
	r, err := Inspect(p, h, w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var all, largest int64
	for _, c := range r.Probe.Candidates {
		b := 4 * numel(c.Shape)
		all += b
		largest = max(largest, b)
	}
	t.Logf("probe held %d bytes at once; all candidates %d, largest %d", peak, all, largest)
	if peak == 0 || peak > largest {
		t.Errorf("probe held %d bytes of outputs at once; the largest tensor has %d (all candidates %d)", peak, largest, all)
	}
}

// deepNet returns a plain chain of layers 3x3 convolutions with ch
// channels at stride 1, each followed by Relu ("convI", "reluI" from 1),
// after a stride-2 stem ("stem"): many tensors of the same large size, as in
// a segmentation backbone at high resolution. With residual, each Relu
// reads the convolution plus the previous layer's output ("addI"), as in a
// ResNet. The output is the last Relu.
func deepNet(layers, ch int, residual bool) *pb.ModelProto {
	r := lcg(4242)
	in := TensorValueInfo("image", int32(pb.TensorProto_FLOAT), []int64{0, 3, 0, 0}, []string{"batch", "", "height", "width"})
	g := &pb.GraphProto{Name: "deep", Input: []*pb.ValueInfoProto{in}}
	conv := func(x, out string, cin, stride int) {
		w := floatTensor(out+".w", []int64{int64(ch), int64(cin), 3, 3}, &r)
		b := floatTensor(out+".b", []int64{int64(ch)}, &r)
		g.Initializer = append(g.Initializer, w, b)
		g.Node = append(g.Node, &pb.NodeProto{Name: out + "_node", OpType: "Conv", Input: []string{x, w.Name, b.Name}, Output: []string{out},
			Attribute: []*pb.AttributeProto{intsAttr("kernel_shape", 3, 3), intsAttr("strides", int64(stride), int64(stride)), intsAttr("pads", 1, 1, 1, 1)}})
	}
	conv("image", "stem", 3, 2)
	prev := "stem"
	for i := 1; i <= layers; i++ {
		c, rl := "conv"+strconv.Itoa(i), "relu"+strconv.Itoa(i)
		conv(prev, c, ch, 1)
		if residual {
			a := "add" + strconv.Itoa(i)
			g.Node = append(g.Node, &pb.NodeProto{Name: a + "_node", OpType: "Add", Input: []string{c, prev}, Output: []string{a}})
			c = a
		}
		g.Node = append(g.Node, &pb.NodeProto{Name: rl + "_node", OpType: "Relu", Input: []string{c}, Output: []string{rl}})
		prev = rl
	}
	g.Output = []*pb.ValueInfoProto{FloatValueInfo(prev, nil)}
	return &pb.ModelProto{IrVersion: 8, ProducerName: "lmpseg-test", OpsetImport: []*pb.OperatorSetIdProto{{Domain: "", Version: 17}}, Graph: g}
}

// Peak memory is measured in child processes (the test binary run again),
// since a process's peak resident size only grows. Each child loads
// onnxruntime and the model and then does one thing at probeRSSSize.
const (
	probeRSSEnvMode  = "LMPSEG_PROBE_RSS_MODE"
	probeRSSEnvModel = "LMPSEG_PROBE_RSS_MODEL"
	probeRSSSize     = 512
)

// TestProbeRSSChild is the child: it does nothing unless started by
// BenchmarkProbeMemory.
func TestProbeRSSChild(t *testing.T) {
	mode, path := os.Getenv(probeRSSEnvMode), os.Getenv(probeRSSEnvModel)
	if mode == "" {
		t.Skip("child of BenchmarkProbeMemory")
	}
	needRuntime(t)
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	const h, w = probeRSSSize, probeRSSSize
	x := make([]float32, 3*h*w)
	mm, names, run := m, []string(nil), true
	switch mode {
	case "idle": // the runtime and the model, no run
		run = false
	case "forward":
	case "exposed": // every candidate exposed at once, as before
		names = imageTensors(m.Proto.Graph, RealInputs(m.Proto.Graph)[0].GetName())
	case "probe": // one probe size, as the other modes
		mm, names = shapeMarkers(m, imageTensors(m.Proto.Graph, RealInputs(m.Proto.Graph)[0].GetName()))
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	s, err := NewSession(mm, names, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if run {
		if _, err := s.Run(x, 1, 3, h, w); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
}

// childPeakRSS runs TestProbeRSSChild in mode and returns its peak resident
// size in bytes.
func childPeakRSS(b *testing.B, mode, model string) int64 {
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeRSSChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), probeRSSEnvMode+"="+mode, probeRSSEnvModel+"="+model)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("child %s: %v\n%s", mode, err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Skip("no rusage on this system")
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}

// BenchmarkProbeMemory measures the peak resident memory of one probe run
// of a 12-layer chain at 512x512 (4 MiB tensors: twelve from each of Conv
// and Relu, and Add with Residual) in child processes and reports, above the memory of loading
// the runtime and the model ("idle"), the probe's and the old all-exposed
// run's peaks over a plain forward pass's: "probe/forward" and
// "exposed/forward". The probe should stay near 1, within 2. Demo is
// testdata/models/demo_backbone.onnx, whose few channels leave the
// figures close to the noise of the process's own memory.
func BenchmarkProbeMemory(b *testing.B) {
	needRuntime(b)
	for _, res := range []bool{false, true} {
		name := "Chain"
		if res {
			name = "Residual"
		}
		b.Run(name, func(b *testing.B) {
			probeMemory(b, writeModel(b, b.TempDir(), "deep.onnx", deepNet(12, 16, res)))
		})
	}
	b.Run("Demo", func(b *testing.B) {
		p, err := filepath.Abs(filepath.Join("..", "testdata", "models", "demo_backbone.onnx"))
		if err != nil {
			b.Fatal(err)
		}
		probeMemory(b, p)
	})
}

func probeMemory(b *testing.B, p string) {
	for i := 0; i < b.N; i++ {
		idle := childPeakRSS(b, "idle", p)
		fwd := childPeakRSS(b, "forward", p) - idle
		exp := childPeakRSS(b, "exposed", p) - idle
		prb := childPeakRSS(b, "probe", p) - idle
		b.ReportMetric(float64(idle)/(1<<20), "idle-MiB")
		b.ReportMetric(float64(fwd)/(1<<20), "forward-MiB")
		b.ReportMetric(float64(exp)/(1<<20), "exposed-MiB")
		b.ReportMetric(float64(prb)/(1<<20), "probe-MiB")
		b.ReportMetric(float64(prb)/float64(fwd), "probe/forward")
		b.ReportMetric(float64(exp)/float64(fwd), "exposed/forward")
	}
}
