package cli

import (
	"context"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/metrics"
	"github.com/lmpseg/lmpseg/onnx"
	"github.com/lmpseg/lmpseg/train"
)

// featureFunc returns the features, label map (H x W) and name of validation sample i.
type featureFunc func(i int) (*graph.Tensor, []int32, int, int, string, error)

// directFeatures runs the backbone on each validation image (no cache).
func directFeatures(ds data.Dataset, f onnx.Features, pre data.Preprocess) featureFunc {
	return func(i int) (*graph.Tensor, []int32, int, int, string, error) {
		s, err := ds.Load(i)
		if err != nil {
			return nil, nil, 0, 0, ds.Name(i), err
		}
		b, err := train.FeatureBatch(f, pre, []*data.Sample{s})
		if err != nil {
			return nil, nil, 0, 0, s.Name, err
		}
		return b.Feat, b.Labels, b.H, b.W, s.Name, nil
	}
}

// validate evaluates head on every sample of val and returns the confusion matrix and its report.
func validate(ctx context.Context, head *graph.Head, val data.Dataset, feat featureFunc, ignore int32) (metrics.Report, *metrics.Confusion, error) {
	conf := metrics.NewConfusion(len(val.Classes()))
	for i := 0; i < val.Len(); i++ {
		if err := ctx.Err(); err != nil {
			return metrics.Report{}, nil, err
		}
		f, lab, H, W, _, err := feat(i)
		if err != nil {
			return metrics.Report{}, nil, err
		}
		pred := make([]int32, H*W)
		graph.ArgmaxUpsampled(pred, head.Forward(f, false), H, W)
		conf.Add(lab, pred, ignore)
	}
	return conf.Report(val.Classes()), conf, nil
}
