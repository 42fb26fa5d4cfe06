// Command liftgrad is the Go half of scripts/check_lift.py: it lifts the
// tail of an ONNX model with package lift, runs one forward pass and one
// backward pass on tensors the script wrote, and writes the output, the
// gradient with respect to the first input, the parameter gradients and
// the batch-norm buffers back for the script to compare with PyTorch.
//
// Usage:
//
//	go run ./scripts/liftgrad CASE.json [CASE.json ...]
//
// Each case file is a JSON manifest (paths relative to its folder):
//
//	{"model": "m.onnx", "from": "T", "output": "", "h": 256, "w": 320,
//	 "freeze_bn": true, "train": true,
//	 "inputs": {"T": {"file": "in0.f32", "shape": [2, 960, 16, 20]}, ...},
//	 "dy": {"file": "dy.f32", "shape": [2, 21, 256, 320]},
//	 "out": "go_freeze"}
//
// Tensors are raw little-endian float32 in NCHW order. The results go to
// the folder named by "out": result.json lists the net's inputs and every
// tensor written (output.f32, input_grad.f32, one file per parameter
// gradient and per buffer) with its name and shape. The net is lifted with
// lift.Options{Threads: 1, InputGrad: true} and the case's FreezeBN. An
// optional "dump" lists tensors of the tail (the inputs of its Relu nodes)
// whose values the same forward pass computes, written as dumpNNN.f32.
package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/lift"
	"github.com/lmpseg/lmpseg/onnx"
)

type tensorFile struct {
	Name  string `json:"name,omitempty"`
	File  string `json:"file"`
	Shape []int  `json:"shape"`
}

type manifest struct {
	Model    string                `json:"model"`
	From     string                `json:"from"`
	Output   string                `json:"output"`
	H        int                   `json:"h"`
	W        int                   `json:"w"`
	FreezeBN bool                  `json:"freeze_bn"`
	Train    bool                  `json:"train"`
	Inputs   map[string]tensorFile `json:"inputs"`
	Dy       tensorFile            `json:"dy"`
	Out      string                `json:"out"`
	Dump     []string              `json:"dump"`
}

type result struct {
	Inputs    []string     `json:"inputs"`
	Describe  string       `json:"describe"`
	Output    tensorFile   `json:"output"`
	InputGrad tensorFile   `json:"input_grad"`
	Params    []tensorFile `json:"params"`
	Buffers   []tensorFile `json:"buffers"`
	Dumps     []tensorFile `json:"dumps"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: liftgrad CASE.json [CASE.json ...]")
		os.Exit(2)
	}
	models := map[string]*onnx.Model{}
	for _, c := range os.Args[1:] {
		if err := run(c, models); err != nil {
			fmt.Fprintf(os.Stderr, "liftgrad: %s: %v\n", c, err)
			os.Exit(1)
		}
	}
}

func run(path string, models map[string]*onnx.Model) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var mf manifest
	if err := json.Unmarshal(raw, &mf); err != nil {
		return fmt.Errorf("liftgrad: manifest: %w", err)
	}
	dir := filepath.Dir(path)
	mpath := filepath.Join(dir, mf.Model)
	m := models[mpath]
	if m == nil {
		if m, err = onnx.Load(mpath); err != nil {
			return err
		}
		models[mpath] = m
	}
	net, err := lift.Lift(m, mf.From, lift.Options{Output: mf.Output, H: mf.H, W: mf.W, FreezeBN: mf.FreezeBN, InputGrad: true, Threads: 1})
	if err != nil {
		return err
	}
	var xs []*graph.Tensor
	for _, name := range net.Inputs() {
		tf, ok := mf.Inputs[name]
		if !ok {
			return fmt.Errorf("liftgrad: the net reads %q, which the manifest does not give (it reads %v)", name, net.Inputs())
		}
		x, err := readTensor(filepath.Join(dir, tf.File), tf.Shape)
		if err != nil {
			return err
		}
		xs = append(xs, x)
	}
	if err := net.CheckInputs(xs); err != nil {
		return err
	}
	dy, err := readTensor(filepath.Join(dir, mf.Dy.File), mf.Dy.Shape)
	if err != nil {
		return err
	}
	net.ZeroGrad()
	y := net.ForwardInputs(xs, mf.Train)
	if !y.SameShape(dy) {
		return fmt.Errorf("liftgrad: output %dx%dx%dx%d, dy %v", y.N, y.C, y.H, y.W, mf.Dy.Shape)
	}
	dx := net.Backward(dy)

	out := filepath.Join(dir, mf.Out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	res := result{Inputs: net.Inputs(), Describe: net.Describe()}
	write := func(name, file string, shape []int, data []float32) (tensorFile, error) {
		return tensorFile{Name: name, File: file, Shape: shape}, writeFloats(filepath.Join(out, file), data)
	}
	if res.Output, err = write(net.Output(), "output.f32", []int{y.N, y.C, y.H, y.W}, y.Data); err != nil {
		return err
	}
	if res.InputGrad, err = write(net.Inputs()[0], "input_grad.f32", []int{dx.N, dx.C, dx.H, dx.W}, dx.Data); err != nil {
		return err
	}
	for i, p := range net.Params() {
		tf, err := write(p.Name, fmt.Sprintf("param%03d.f32", i), p.Shape, p.Grad)
		if err != nil {
			return err
		}
		res.Params = append(res.Params, tf)
	}
	for i, p := range net.Buffers() {
		tf, err := write(p.Name, fmt.Sprintf("buffer%03d.f32", i), p.Shape, p.Data)
		if err != nil {
			return err
		}
		res.Buffers = append(res.Buffers, tf)
	}
	// Each dumped tensor comes from a net lifted to it with the same
	// options and run on the same inputs in the same mode, so that its
	// values are those of the full pass.
	for i, name := range mf.Dump {
		dn, err := lift.Lift(m, mf.From, lift.Options{Output: name, H: mf.H, W: mf.W, FreezeBN: mf.FreezeBN, Threads: 1})
		if err != nil {
			return err
		}
		ins := make([]*graph.Tensor, len(dn.Inputs()))
		for k, in := range dn.Inputs() {
			ins[k] = xs[slices.Index(net.Inputs(), in)]
		}
		v := dn.ForwardInputs(ins, mf.Train)
		tf, err := write(name, fmt.Sprintf("dump%03d.f32", i), []int{v.N, v.C, v.H, v.W}, v.Data)
		if err != nil {
			return err
		}
		res.Dumps = append(res.Dumps, tf)
	}
	js, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "result.json"), js, 0o644)
}

func readTensor(path string, shape []int) (*graph.Tensor, error) {
	if len(shape) != 4 {
		return nil, fmt.Errorf("liftgrad: %s: shape %v is not NCHW", path, shape)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t := graph.NewTensor(shape[0], shape[1], shape[2], shape[3])
	if len(raw) != 4*len(t.Data) {
		return nil, fmt.Errorf("liftgrad: %s: %d bytes for shape %v", path, len(raw), shape)
	}
	for i := range t.Data {
		t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return t, nil
}

func writeFloats(path string, v []float32) error {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return os.WriteFile(path, raw, 0o644)
}
