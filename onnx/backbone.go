package onnx

import (
	"fmt"
	"sync"
)

// Features turns preprocessed images into backbone features: n NCHW float32 images of size h×w
// in x, the feature tensor and its shape out. *Backbone implements it; training, validation and
// inference take it so that a feature cache or a test double can stand in.
type Features interface {
	Run(x []float32, n, h, w int) (feat []float32, shape []int64, err error)
}

// Backbone runs a frozen feature extractor: an ONNX model read up to one
// tensor (Options.Feature) in onnxruntime.
type Backbone struct {
	mu      sync.Mutex // serialises Run: one forward pass at a time uses all intra-op threads
	s       *Session
	feature string
}

// OpenBackbone opens the model at path in onnxruntime for reading the tensor
// o.Feature (the first graph output when empty). The session's model has
// that tensor as its only output and is pruned to the nodes feeding it, so
// that nothing else runs (onnxruntime runs every node that feeds a graph
// output). The model must have one image input: float32, float16 or uint8,
// NCHW or NHWC (see InputInfo); Run takes NCHW float32 images whatever it
// is. A float16 feature is returned as float32.
func OpenBackbone(path string, o Options) (*Backbone, error) {
	m, err := Load(path)
	if err != nil {
		return nil, err
	}
	return newBackbone(m, o, true)
}

// NewBackbone is OpenBackbone for a model already in memory. A model with
// tensors in external data files needs its Path set.
func NewBackbone(m *Model, o Options) (*Backbone, error) {
	return newBackbone(m, o, false)
}

func newBackbone(m *Model, o Options, fromFile bool) (*Backbone, error) {
	if m == nil {
		return nil, fmt.Errorf("onnx: nil model")
	}
	if err := Validate(m.Proto); err != nil {
		return nil, err
	}
	feat := o.Feature
	if feat == "" {
		feat = m.Proto.GetGraph().GetOutput()[0].GetName()
	} else if !hasValue(m.Proto.GetGraph(), feat) {
		return nil, missingTensorError(m.Proto.GetGraph(), feat)
	}
	for _, e := range o.Extra {
		if !hasValue(m.Proto.GetGraph(), e) {
			return nil, missingTensorError(m.Proto.GetGraph(), e)
		}
	}
	s, err := newSession(m, append([]string{feat}, o.Extra...), o, fromFile)
	if err != nil {
		return nil, err
	}
	return &Backbone{s: s, feature: feat}, nil
}

// Feature returns the name of the tensor the backbone returns.
func (b *Backbone) Feature() string { return b.feature }

// Session returns the underlying session.
func (b *Backbone) Session() *Session { return b.s }

// Channels returns the number of input channels Run expects: the model's
// static channel count, or 3.
func (b *Backbone) Channels() int { return b.s.channels() }

// Run runs n NCHW float32 images of size h×w (with Channels channels) held
// in x and returns the feature tensor and its shape. A model with a static
// batch of 1 is run image by image and the features stacked. Batches whose shape a
// static model does not accept are refused before onnxruntime is called. Run is safe for
// concurrent use; calls are serialised. The features are new memory that the caller owns.
func (b *Backbone) Run(x []float32, n, h, w int) (feat []float32, shape []int64, err error) {
	return b.RunInto(nil, x, n, h, w)
}

// RunInto is Run writing the features into dst when it has the capacity
// (onnxruntime writes them there directly; see Session.RunInto), and into
// new memory otherwise, or at the first run at a new input shape. Feeding
// back the features of the previous run, once the caller is done with them,
// makes a run allocate no feature memory and copy nothing.
func (b *Backbone) RunInto(dst, x []float32, n, h, w int) (feat []float32, shape []int64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	outs, err := b.s.RunInto([][]float32{dst}, x, n, b.s.channels(), h, w)
	if err != nil {
		return nil, nil, err
	}
	o := outs[0]
	if o.Type != "float32" && o.Type != "float16" {
		return nil, nil, fmt.Errorf("onnx: feature tensor %q has element type %s; float32 or float16 is needed", b.feature, o.Type)
	}
	return o.Data, o.Shape, nil
}

// RunAll is Run returning every tensor the backbone computes: Feature, then
// Options.Extra in order, each as float32.
func (b *Backbone) RunAll(x []float32, n, h, w int) ([]Output, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	outs, err := b.s.Run(x, n, b.s.channels(), h, w)
	if err != nil {
		return nil, err
	}
	for _, o := range outs {
		if o.Type != "float32" && o.Type != "float16" {
			return nil, fmt.Errorf("onnx: tensor %q has element type %s; float32 or float16 is needed", o.Name, o.Type)
		}
	}
	return outs, nil
}

// FeaturesInto is a Features that can write into the caller's memory; a
// source holding a pool of feature buffers type-asserts for it.
// *Backbone implements it.
type FeaturesInto interface {
	Features
	RunInto(dst, x []float32, n, h, w int) (feat []float32, shape []int64, err error)
}

// Close destroys the onnxruntime session. It is safe to call more than once.
func (b *Backbone) Close() error { return b.s.Close() }
