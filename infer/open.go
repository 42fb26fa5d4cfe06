package infer

import (
	"encoding/json"

	"fmt"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/onnx"
)

// ModelOptions control how a model is opened for inference.
type ModelOptions struct {
	Device  string // onnxruntime execution provider
	Threads int
	// Mode is how images reach the model; its sizes may be left zero where the model's static
	// input size gives them (see Mode.Resolve). ModeSet says the caller chose Mode.Name; otherwise
	// a static-shape model defaults to resize.
	Mode    Mode
	ModeSet bool
	// Aug, when set, is test-time augmentation (see Aug).
	Aug    *Aug
	Output OutputOptions
	// Preprocess, when set, adjusts the preprocessing read from the model (or ImageNet's).
	Preprocess func(base data.Preprocess) (data.Preprocess, error)
}

// Model is a Predictor over an open onnxruntime session, with what was read about the model.
type Model struct {
	*Predictor
	Palette [][3]uint8
	// OutClasses is the class count a model without class metadata declares in its output shape
	// (a static K > 1, or 2 for a binary output), else 0.
	OutClasses int
	// Output is the output adapter of an ONNX model (nil for a run folder).
	Output *OutputAdapter
	close  func() error
}

// Close releases the model's sessions. It is safe to call more than once.
func (m *Model) Close() error {
	if m.close == nil {
		return nil
	}
	err := m.close()
	m.close = nil
	return err
}

// NewModel wraps a scorer into a Model; closeFn (may be nil) releases what the scorer holds.
func NewModel(sc Scorer, pre data.Preprocess, classes []string, closeFn func() error) *Model {
	return &Model{Predictor: &Predictor{Scorer: sc, Pre: pre, Classes: classes}, close: closeFn}
}

// OpenModel opens an ONNX segmentation model (an lmpseg export, or any model with class scores
// NCHW or NHWC, a one-channel binary probability or logit, or a label map) for inference. The
// output adapter (NewOutputAdapter, with o.Output) chooses the output and how to read it; only
// that output is computed.
func OpenModel(path string, o ModelOptions) (*Model, error) {
	m, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	if len(m.Proto.GetGraph().GetOutput()) == 0 {
		return nil, fmt.Errorf("infer: %s: the model has no outputs", m.Path)
	}
	md, err := ReadMetadata(m)
	if err != nil {
		return nil, err
	}
	ad, err := NewOutputAdapter(m, md, o.Output)
	if err != nil {
		return nil, err
	}
	pre := data.ImageNet
	if in, err := onnx.ImageInput(m); err == nil && in.ElemType == "uint8" {
		pre = data.Raw // a uint8 model takes 0..255 pixels and normalises inside its graph
	}
	if md.Pre != nil {
		pre = *md.Pre
	}
	if o.Preprocess != nil {
		if pre, err = o.Preprocess(pre); err != nil {
			return nil, err
		}
	}
	so := onnx.Options{Device: o.Device, Threads: o.Threads}
	var sess *onnx.Session
	if len(m.Proto.GetGraph().GetOutput()) == 1 {
		sess, err = onnx.OpenSession(path, so) // onnxruntime reads the file itself
	} else {
		sess, err = onnx.NewSession(m, []string{ad.Plan.Name}, so) // computes the chosen output only
	}
	if err != nil {
		return nil, err
	}
	lm := NewModel(&ModelScorer{Session: sess, Adapter: ad}, pre, md.Classes, sess.Close)
	lm.Palette, lm.Output = md.Palette, ad
	if len(lm.Classes) == 0 {
		lm.OutClasses = ad.Plan.Classes
	}
	lm.Aug = o.Aug
	if lm.Mode, err = o.Mode.Resolve(StaticInputHW(m), o.ModeSet); err != nil {
		lm.Close()
		return nil, err
	}
	return lm, nil
}

// Resolve fills a mode's sizes from a static-shape model's input size hw (zero when dynamic):
// whole becomes resize for a static model unless explicit, and resize and slide default their
// window to hw, slide its stride to 2/3 of the window.
func (m Mode) Resolve(hw [2]int, explicit bool) (Mode, error) {
	if m.Name == "" {
		m.Name = "whole"
	}
	if m.Name == "whole" && hw[0] > 0 && !explicit {
		m.Name = "resize"
	}
	switch m.Name {
	case "whole":
	case "resize", "slide":
		if m.CropH == 0 {
			if hw[0] == 0 {
				return m, fmt.Errorf("infer: --mode %s needs --crop HxW (the %s) for a model with dynamic input size", m.Name, map[string]string{"resize": "size to resize to", "slide": "window"}[m.Name])
			}
			m.CropH, m.CropW = hw[0], hw[1]
		}
		if m.Name == "slide" && m.StrideH == 0 {
			m.StrideH, m.StrideW = max(1, m.CropH*2/3), max(1, m.CropW*2/3)
		}
		if m.Name == "slide" {
			if err := m.checkSlide(); err != nil {
				return m, err
			}
		}
	default:
		return m, fmt.Errorf("infer: --mode %q: want whole, slide or resize", m.Name)
	}
	return m, nil
}

// PaletteRGB converts a palette to the metadata's form.
func PaletteRGB(p data.Palette) [][3]uint8 {
	out := make([][3]uint8, len(p))
	for i, c := range p {
		out[i] = [3]uint8{c.R, c.G, c.B}
	}
	return out
}

// Write records md in the model's metadata_props, replacing lmpseg's keys and keeping the others.
func (md *Metadata) Write(m *pb.ModelProto) {
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	kv := [][2]string{
		{KeyClasses, js(md.Classes)}, {KeyPalette, js(md.Palette)}, {KeyPreprocess, js(md.Pre)}, {KeyFeature, md.Feature},
		{KeyOutput, md.Output}, {KeyHead, md.Head}, {KeyLoss, md.Loss}, {KeyVersion, md.Version},
	}
	ours := map[string]bool{}
	for _, e := range kv {
		ours[e[0]] = true
	}
	var keep []*pb.StringStringEntryProto
	for _, p := range m.GetMetadataProps() {
		if !ours[p.GetKey()] {
			keep = append(keep, p)
		}
	}
	for _, e := range kv {
		keep = append(keep, &pb.StringStringEntryProto{Key: e[0], Value: e[1]})
	}
	m.MetadataProps = keep
	m.ProducerName, m.ProducerVersion = "lmpseg", md.Version
}
