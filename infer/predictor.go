package infer

import (
	"encoding/json"
	"fmt"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
)

// A Scorer maps one preprocessed image (1 x 3 x h x w) to class scores (1 x K x h' x w', logits or
// probabilities, at any resolution) or, for models that output labels, to a label map returned in
// labels (h' x w') with scores nil.
type Scorer interface {
	Score(x []float32, h, w int) (scores *graph.Tensor, labels []int32, lh, lw int, err error)
}

// Mode says how an image reaches the scorer.
type Mode struct {
	Name             string // whole | slide | resize
	CropH, CropW     int    // slide window, or the resize target (a static model's input size)
	StrideH, StrideW int
}

// Predictor turns samples into label maps at their own resolution.
type Predictor struct {
	Scorer  Scorer
	Pre     data.Preprocess
	Classes []string
	Mode    Mode
}

// Predict returns the H x W label map of s.
func (p *Predictor) Predict(s *data.Sample) ([]int32, error) {
	switch p.Mode.Name {
	case "", "whole":
		return p.whole(s, s)
	case "resize":
		r := data.Resize(s, p.Mode.CropH, p.Mode.CropW)
		return p.whole(r, s)
	case "slide":
		return p.slide(s)
	}
	return nil, fmt.Errorf("infer: unknown mode %q (want whole, slide or resize)", p.Mode.Name)
}

func (p *Predictor) input(s *data.Sample) []float32 {
	x := make([]float32, 3*s.H*s.W)
	p.Pre.Apply(x, s)
	return x
}

// whole scores in (maybe resized) and returns labels at the size of orig.
func (p *Predictor) whole(in, orig *data.Sample) ([]int32, error) {
	sc, lab, lh, lw, err := p.Scorer.Score(p.input(in), in.H, in.W)
	if err != nil {
		return nil, fmt.Errorf("infer: %s: %w", orig.Name, err)
	}
	if err := p.checkClasses(sc); err != nil {
		return nil, fmt.Errorf("infer: %s: %w", orig.Name, err)
	}
	out := make([]int32, orig.H*orig.W)
	if sc == nil {
		data.ResizeNearest(out, lab, lh, lw, orig.H, orig.W)
		return out, nil
	}
	graph.ArgmaxUpsampled(out, sc, orig.H, orig.W)
	return out, nil
}

func (p *Predictor) checkClasses(sc *graph.Tensor) error {
	if sc != nil && len(p.Classes) > 0 && sc.C != len(p.Classes) {
		return fmt.Errorf("model outputs %d classes, the dataset has %d", sc.C, len(p.Classes))
	}
	return nil
}

func windows(size, crop, stride int) []int {
	if size <= crop {
		return []int{0}
	}
	n := (size-crop+stride-1)/stride + 1
	out := make([]int, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, min(i*stride, size-crop))
	}
	return out
}

// slide averages the upsampled scores of overlapping windows (padding images smaller than the window).
func (p *Predictor) slide(s *data.Sample) ([]int32, error) {
	ch, cw := p.Mode.CropH, p.Mode.CropW
	sh, sw := p.Mode.StrideH, p.Mode.StrideW
	if ch <= 0 || cw <= 0 || sh <= 0 || sw <= 0 {
		return nil, fmt.Errorf("infer: sliding window needs --crop and --stride (HxW, positive), got %dx%d and %dx%d", ch, cw, sh, sw)
	}
	H, W := s.H, s.W
	var acc *graph.Tensor
	count := make([]float32, H*W)
	for _, y0 := range windows(H, ch, sh) {
		for _, x0 := range windows(W, cw, sw) {
			h, w := min(ch, H-y0), min(cw, W-x0)
			win := data.Crop(s, y0, x0, h, w, [3]float32{}, 0)
			sc, _, _, _, err := p.Scorer.Score(p.input(win), h, w)
			if err != nil {
				return nil, fmt.Errorf("infer: %s window at (%d,%d): %w", s.Name, y0, x0, err)
			}
			if sc == nil {
				return nil, fmt.Errorf("infer: %s: the model outputs labels, which cannot be averaged; use --mode whole or resize", s.Name)
			}
			if err := p.checkClasses(sc); err != nil {
				return nil, fmt.Errorf("infer: %s: %w", s.Name, err)
			}
			up := graph.NewTensor(1, sc.C, h, w)
			graph.ResizeBilinear(up, sc)
			if acc == nil {
				acc = graph.NewTensor(1, sc.C, H, W)
			}
			for k := 0; k < sc.C; k++ {
				for y := 0; y < h; y++ {
					dst := acc.Data[(k*H+y0+y)*W+x0:][:w]
					src := up.Data[(k*h+y)*w:][:w]
					for i, v := range src {
						dst[i] += v
					}
				}
			}
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					count[(y0+y)*W+x0+x]++
				}
			}
		}
	}
	out := make([]int32, H*W)
	for i := range out {
		best, arg := float32(0), int32(0)
		for k := 0; k < acc.C; k++ {
			v := acc.Data[k*H*W+i] / count[i]
			if k == 0 || v > best {
				best, arg = v, int32(k)
			}
		}
		out[i] = arg
	}
	return out, nil
}

// HeadScorer scores with a backbone and a Go head (the run-folder path).
type HeadScorer struct {
	Backbone onnx.Features
	Head     *graph.Head
}

// Score implements Scorer.
func (s *HeadScorer) Score(x []float32, h, w int) (*graph.Tensor, []int32, int, int, error) {
	f, shape, err := s.Backbone.Run(x, 1, h, w)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	t, err := graph.TensorFrom(f, shape)
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("feature tensor: %w", err)
	}
	if err := s.Head.CheckInput(t.C); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("%w (the run's config.json names another feature tensor than its head was trained on?)", err)
	}
	return s.Head.Forward(t, false), nil, 0, 0, nil
}

// ModelScorer scores with a whole ONNX segmentation model, reading its output with Adapter
// (nil: the first output, its layout and kind decided from the shape of the result).
type ModelScorer struct {
	Session *onnx.Session
	Adapter *OutputAdapter
}

// Score implements Scorer.
func (s *ModelScorer) Score(x []float32, h, w int) (*graph.Tensor, []int32, int, int, error) {
	outs, err := s.Session.Run(x, 1, 3, h, w)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	ad := s.Adapter
	if ad == nil {
		ad = &OutputAdapter{Plan: OutputPlan{Name: outs[0].Name, Kind: KindScores}}
	}
	for _, o := range outs {
		if o.Name == ad.Plan.Name {
			return ad.Convert(o, h, w)
		}
	}
	return ad.Convert(outs[0], h, w)
}

// Metadata is what lmpseg records in an exported model's metadata_props.
type Metadata struct {
	Classes    []string
	Palette    [][3]uint8
	Pre        *data.Preprocess
	Feature    string
	Output     string
	Head, Loss string
	Version    string
}

// Metadata keys.
const (
	KeyClasses    = "lmpseg.classes"
	KeyPalette    = "lmpseg.palette"
	KeyPreprocess = "lmpseg.preprocess"
	KeyFeature    = "lmpseg.feature"
	KeyOutput     = "lmpseg.output"
	KeyHead       = "lmpseg.head"
	KeyLoss       = "lmpseg.loss"
	KeyVersion    = "lmpseg.version"
)

// ReadMetadata reads lmpseg's metadata from a model (fields absent from it stay zero).
func ReadMetadata(m *onnx.Model) (*Metadata, error) {
	md := &Metadata{}
	for _, p := range m.Proto.GetMetadataProps() {
		k, v := p.GetKey(), p.GetValue()
		var err error
		switch k {
		case KeyClasses:
			err = json.Unmarshal([]byte(v), &md.Classes)
		case KeyPalette:
			err = json.Unmarshal([]byte(v), &md.Palette)
		case KeyPreprocess:
			md.Pre = new(data.Preprocess)
			err = json.Unmarshal([]byte(v), md.Pre)
		case KeyFeature:
			md.Feature = v
		case KeyOutput:
			md.Output = v
		case KeyHead:
			md.Head = v
		case KeyLoss:
			md.Loss = v
		case KeyVersion:
			md.Version = v
		}
		if err != nil {
			return nil, fmt.Errorf("infer: metadata %s of %s: %w", k, m.Path, err)
		}
	}
	return md, nil
}
