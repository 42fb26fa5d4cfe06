package train

import (
	"fmt"
	"strings"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/onnx"
)

// Channels-last features: a tensor [N,H,W,C] (ConvNeXt and Swin stages, TensorFlow exports) is
// transposed to N x C x H x W before the head, in Go and in the exported graph.
const layoutNHWC = "nhwc"

// nhwcFeatures transposes the channels-last features of F to NCHW.
type nhwcFeatures struct{ onnx.Features }

// Run implements onnx.Features.
func (f nhwcFeatures) Run(x []float32, n, h, w int) ([]float32, []int64, error) {
	feat, shape, err := f.Features.Run(x, n, h, w)
	if err != nil {
		return nil, nil, err
	}
	return nhwcToNCHW(feat, shape)
}

// nhwcToNCHW transposes a rank-4 channels-last tensor.
func nhwcToNCHW(feat []float32, shape []int64) ([]float32, []int64, error) {
	if len(shape) != 4 {
		return nil, nil, fmt.Errorf("train: channels-last feature tensor has shape %v, want rank 4", shape)
	}
	n, h, w, c := int(shape[0]), int(shape[1]), int(shape[2]), int(shape[3])
	if n*h*w*c != len(feat) {
		return nil, nil, fmt.Errorf("train: feature tensor of shape %v holds %d values", shape, len(feat))
	}
	out := make([]float32, len(feat))
	for b, m := 0, h*w*c; b < n; b++ {
		onnx.NHWCToNCHW(out[b*m:(b+1)*m], feat[b*m:(b+1)*m], c, h*w)
	}
	return out, []int64{int64(n), int64(c), int64(h), int64(w)}, nil
}

// FeaturesFor returns f as the head of a run with cfg sees it: transposed to NCHW when the run's
// feature tensor is channels-last.
// A lifted decoder that reads several frozen tensors gets them packed into one (graph.PackTensors);
// f must then be a backbone opened with BackboneOptions.
func FeaturesFor(cfg *Config, f onnx.Features) onnx.Features {
	return featureView(f, cfg.FeatureLayout == layoutNHWC, cfg.packed())
}

func featureView(f onnx.Features, nhwc, packed bool) onnx.Features {
	switch {
	case packed:
		return packedFeatures{f}
	case nhwc:
		return nhwcFeatures{f}
	}
	return f
}

// packed reports whether the run's net reads several frozen tensors, packed into one feature.
func (c *Config) packed() bool { return c.Lift != nil && len(c.Lift.Inputs) > 1 }

// cacheFeature is what names the feature in the cache key: feature, or for a packed feature the
// tensors packed, so that a packed entry never stands for the tensor alone.
func (c *Config) cacheFeature(feature string) string {
	if !c.packed() {
		return feature
	}
	return strings.Join(c.Lift.Inputs, "+")
}

// BackboneOptions are the onnx options that open the run's backbone for its features: the feature
// tensor, and the other tensors a lifted decoder reads.
func (c *Config) BackboneOptions(device string, threads int) onnx.Options {
	o := onnx.Options{Feature: c.Feature, Device: device, Threads: threads}
	if c.packed() {
		o.Extra = c.Lift.Inputs[1:]
	}
	return o
}

// allFeatures is a backbone that returns every tensor it computes (onnx.Backbone.RunAll).
type allFeatures interface {
	RunAll(x []float32, n, h, w int) ([]onnx.Output, error)
}

// packedFeatures returns the tensors of a backbone opened with extra outputs as one packed tensor.
type packedFeatures struct{ onnx.Features }

// Run implements onnx.Features.
func (f packedFeatures) Run(x []float32, n, h, w int) ([]float32, []int64, error) {
	a, ok := f.Features.(allFeatures)
	if !ok {
		panic(fmt.Sprintf("train: packed features from a %T, which cannot return several tensors", f.Features))
	}
	outs, err := a.RunAll(x, n, h, w)
	if err != nil {
		return nil, nil, err
	}
	ts := make([]*graph.Tensor, len(outs))
	for i, o := range outs {
		if ts[i], err = graph.TensorFrom(o.Data, o.Shape); err != nil {
			return nil, nil, fmt.Errorf("train: tensor %s: %w", o.Name, err)
		}
	}
	p := graph.PackTensors(ts)
	return p.Data, []int64{int64(p.N), int64(p.C), 1, 1}, nil
}

// checkFeature refuses, before anything is trained, a feature tensor that cannot carry a head
// (not a feature map: a classifier's output, attention windows, a tensor whose channels change
// with the input size), and records a channels-last one as such.
func checkFeature(rc *Config, o Options) error {
	m, err := onnx.Load(rc.Backbone)
	if err != nil {
		return err
	}
	name := rc.Feature
	if name == "" {
		if name, err = firstOutput(m); err != nil {
			return err
		}
	}
	fi, err := onnx.CheckFeatureOf(m, name, onnx.Options{Device: o.Device, Threads: o.Threads})
	if err != nil {
		flag := "--feature"
		if rc.Lift != nil {
			flag = "--trainable-from"
		}
		return fmt.Errorf("train: --backbone %s %s %s: %w", rc.Backbone, flag, name, err)
	}
	rc.FeatureLayout = ""
	if fi.NHWC {
		rc.FeatureLayout = layoutNHWC
	}
	return nil
}
