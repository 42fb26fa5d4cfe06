package infer

import (
	"encoding/json"
	"fmt"
	"math"

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
	// Aug, when set, is test-time augmentation: the softmax scores of every scale (and of the
	// horizontally flipped image) are averaged at the image's resolution before the argmax.
	Aug *Aug
}

// Aug is test-time augmentation, as mmsegmentation's aug_test: each scale resizes the image by
// that factor before it reaches the Mode; Flip adds the mirrored image of every scale.
type Aug struct {
	Scales []float64
	Flip   bool
}

// Validate reports scales that are not positive numbers.
func (a *Aug) Validate() error {
	if len(a.Scales) == 0 {
		return fmt.Errorf("infer: test-time augmentation needs at least one scale")
	}
	for _, s := range a.Scales {
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("infer: --scales: %v is not a positive number", s)
		}
	}
	return nil
}

// Predict returns the H x W label map of s.
func (p *Predictor) Predict(s *data.Sample) ([]int32, error) {
	out := make([]int32, s.H*s.W)
	if p.Aug != nil {
		return out, p.augmented(out, s)
	}
	sc, lab, lh, lw, err := p.scores(s)
	if err != nil {
		return nil, err
	}
	if sc == nil {
		data.ResizeNearest(out, lab, lh, lw, s.H, s.W)
		return out, nil
	}
	graph.ArgmaxUpsampled(out, sc, s.H, s.W)
	return out, nil
}

// scores returns the class scores of s as the mode computes them, at any resolution (or, for a
// label-map model in whole or resize mode, its labels).
func (p *Predictor) scores(s *data.Sample) (*graph.Tensor, []int32, int, int, error) {
	in := s
	switch p.Mode.Name {
	case "", "whole":
	case "resize":
		in = data.Resize(s, p.Mode.CropH, p.Mode.CropW)
	case "slide":
		sc, err := p.slide(s)
		return sc, nil, 0, 0, err
	default:
		return nil, nil, 0, 0, fmt.Errorf("infer: unknown mode %q (want whole, slide or resize)", p.Mode.Name)
	}
	sc, lab, lh, lw, err := p.Scorer.Score(p.input(in), in.H, in.W)
	if err == nil {
		err = p.checkClasses(sc)
	}
	if _, run := p.Scorer.(*HeadScorer); err == nil && run && p.Mode.Name == "resize" && sc != nil && (sc.H != in.H || sc.W != in.W) {
		// A run's exported model upsamples its scores to its input size inside the graph, and
		// eval then resizes those to the image: the run is scored the same way, in two steps.
		up := graph.NewTensor(sc.N, sc.C, in.H, in.W)
		graph.ResizeBilinear(up, sc)
		sc = up
	}
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("infer: %s: %w", s.Name, err)
	}
	return sc, lab, lh, lw, nil
}

// augmented writes into dst the argmax of the softmax scores averaged over the views of s.
func (p *Predictor) augmented(dst []int32, s *data.Sample) error {
	if err := p.Aug.Validate(); err != nil {
		return err
	}
	var acc *graph.Tensor
	for _, scale := range p.Aug.Scales {
		h, w := max(1, int(math.Round(float64(s.H)*scale))), max(1, int(math.Round(float64(s.W)*scale)))
		for _, flip := range []bool{false, true} {
			if flip && !p.Aug.Flip {
				continue
			}
			v := data.Resize(s, h, w)
			if flip {
				data.FlipH(v)
			}
			sc, _, _, _, err := p.scores(v)
			if err != nil {
				return err
			}
			if sc == nil {
				return fmt.Errorf("infer: %s: the model outputs labels, which test-time augmentation cannot average; drop --aug-test", s.Name)
			}
			up := graph.NewTensor(1, sc.C, s.H, s.W)
			graph.ResizeBilinear(up, sc)
			SoftmaxChannels(up)
			if flip {
				flipTensorW(up)
			}
			if acc == nil {
				acc = up
				continue
			}
			for i, x := range up.Data {
				acc.Data[i] += x
			}
		}
	}
	graph.ArgmaxUpsampled(dst, acc, s.H, s.W)
	return nil
}

// SoftmaxChannels turns the 1 x K x H x W scores of t into probabilities over K, in place.
func SoftmaxChannels(t *graph.Tensor) {
	hw := t.H * t.W
	for i := 0; i < hw; i++ {
		m := t.Data[i]
		for k := 1; k < t.C; k++ {
			m = max(m, t.Data[k*hw+i])
		}
		var sum float64
		for k := 0; k < t.C; k++ {
			e := math.Exp(float64(t.Data[k*hw+i] - m))
			t.Data[k*hw+i] = float32(e)
			sum += e
		}
		for k := 0; k < t.C; k++ {
			t.Data[k*hw+i] = float32(float64(t.Data[k*hw+i]) / sum)
		}
	}
}

// flipTensorW mirrors every row of t.
func flipTensorW(t *graph.Tensor) {
	for r := 0; r < t.N*t.C*t.H; r++ {
		row := t.Data[r*t.W : (r+1)*t.W]
		for a, b := 0, len(row)-1; a < b; a, b = a+1, b-1 {
			row[a], row[b] = row[b], row[a]
		}
	}
}

func (p *Predictor) input(s *data.Sample) []float32 {
	x := make([]float32, 3*s.H*s.W)
	p.Pre.Apply(x, s)
	return x
}

func (p *Predictor) checkClasses(sc *graph.Tensor) error {
	if sc != nil && len(p.Classes) > 0 && sc.C != len(p.Classes) {
		return fmt.Errorf("model outputs %d classes, the dataset has %d (map them with eval --class-map, or check --output and --output-layout with 'lmpseg inspect')", sc.C, len(p.Classes))
	}
	return nil
}

// checkSlide reports a sliding window that cannot cover an image: sizes not positive, or a
// stride larger than the window.
func (m Mode) checkSlide() error {
	if m.CropH <= 0 || m.CropW <= 0 || m.StrideH <= 0 || m.StrideW <= 0 {
		return fmt.Errorf("infer: sliding window needs --crop and --stride (HxW, positive), got %dx%d and %dx%d", m.CropH, m.CropW, m.StrideH, m.StrideW)
	}
	if m.StrideH > m.CropH || m.StrideW > m.CropW {
		return fmt.Errorf("infer: --stride %dx%d is larger than the window %dx%d, so some pixels would be covered by no window; give a stride no larger than --crop", m.StrideH, m.StrideW, m.CropH, m.CropW)
	}
	return nil
}

// windows returns the offsets of windows of size crop, stride apart, that cover size: the last
// one ends at the edge. An image smaller than the window gets one window, padded.
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

// slide averages the upsampled scores of overlapping windows of the full window size: where the
// image is smaller than the window it is padded with the mean pixel (0 after normalisation), so a
// model with a fixed input size always gets its size. It returns the averaged H x W scores.
func (p *Predictor) slide(s *data.Sample) (*graph.Tensor, error) {
	if err := p.Mode.checkSlide(); err != nil {
		return nil, err
	}
	ch, cw := p.Mode.CropH, p.Mode.CropW
	sh, sw := p.Mode.StrideH, p.Mode.StrideW
	H, W := s.H, s.W
	var acc *graph.Tensor
	count := make([]float32, H*W)
	pad := p.Pre.MeanPixel()
	for _, y0 := range windows(H, ch, sh) {
		for _, x0 := range windows(W, cw, sw) {
			h, w := min(ch, H-y0), min(cw, W-x0) // the part of the window inside the image
			win := data.Crop(s, y0, x0, ch, cw, pad, 0)
			sc, _, _, _, err := p.Scorer.Score(p.input(win), ch, cw)
			if err != nil {
				return nil, fmt.Errorf("infer: %s window at (%d,%d): %w", s.Name, y0, x0, err)
			}
			if sc == nil {
				return nil, fmt.Errorf("infer: %s: the model outputs labels, which cannot be averaged; use --mode whole or resize", s.Name)
			}
			if err := p.checkClasses(sc); err != nil {
				return nil, fmt.Errorf("infer: %s: %w", s.Name, err)
			}
			up := graph.NewTensor(1, sc.C, ch, cw)
			graph.ResizeBilinear(up, sc)
			if acc == nil {
				acc = graph.NewTensor(1, sc.C, H, W)
			}
			for k := 0; k < sc.C; k++ {
				for y := 0; y < h; y++ {
					dst := acc.Data[(k*H+y0+y)*W+x0:][:w]
					src := up.Data[(k*ch+y)*cw:][:w]
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
	for i, c := range count {
		for k := 0; k < acc.C; k++ {
			acc.Data[k*H*W+i] /= c
		}
	}
	return acc, nil
}

// HeadScorer scores with a backbone and a Go head (the run-folder path).
type HeadScorer struct {
	Backbone onnx.Features
	Head     graph.Trainable
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
	if err := s.Head.CheckTensor(t); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("%w (the run's config.json names another feature tensor than its head was trained on?)", err)
	}
	y := s.Head.Forward(t, false)
	if y.C != s.Head.Classes() {
		return nil, nil, 0, 0, fmt.Errorf("infer: the run's net scores %d classes, its config.json names %d", y.C, s.Head.Classes())
	}
	return y, nil, 0, 0, nil
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
