package train

import (
	"context"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/metrics"
	"github.com/lmpseg/lmpseg/onnx"
)

// ValSet is a validation set as the training loop sees it: features and labels by index, from the
// backbone or from the feature cache.
type ValSet struct {
	Classes []string
	N       int
	// Load returns the features, the H x W label map, H, W and the name of sample i.
	Load func(i int) (feat *graph.Tensor, label []int32, h, w int, name string, err error)
}

// DirectFeatures reads features by running the backbone on each validation image (no cache).
func DirectFeatures(ds data.Dataset, f onnx.Features, pre data.Preprocess) func(int) (*graph.Tensor, []int32, int, int, string, error) {
	return func(i int) (*graph.Tensor, []int32, int, int, string, error) {
		s, err := ds.Load(i)
		if err != nil {
			return nil, nil, 0, 0, ds.Name(i), err
		}
		b, err := FeatureBatch(f, pre, []*data.Sample{s})
		if err != nil {
			return nil, nil, 0, 0, s.Name, err
		}
		return b.Feat, b.Labels, b.H, b.W, s.Name, nil
	}
}

// Validate evaluates head on every sample of vs and returns the report and the confusion matrix.
// Predictions are made as infer makes them for a run (argmax of the bilinearly upsampled logits).
func Validate(ctx context.Context, head graph.Trainable, vs *ValSet, ignore int32) (metrics.Report, *metrics.Confusion, error) {
	conf := metrics.NewConfusion(len(vs.Classes))
	for i := 0; i < vs.N; i++ {
		if err := ctx.Err(); err != nil {
			return metrics.Report{}, nil, err
		}
		f, lab, H, W, _, err := vs.Load(i)
		if err != nil {
			return metrics.Report{}, nil, err
		}
		pred := make([]int32, H*W)
		graph.ArgmaxUpsampled(pred, head.Forward(f, false), H, W)
		conf.Add(lab, pred, ignore)
	}
	return conf.Report(vs.Classes), conf, nil
}
