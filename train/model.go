package train

import (
	"fmt"

	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/onnx"
)

// OpenModel opens a run folder for inference: its backbone in onnxruntime read up to the feature
// tensor, and its Go head from the best checkpoint (else the last), checked against each other
// before any image is scored.
func OpenModel(run string, o infer.ModelOptions) (*infer.Model, error) {
	cfg, head, _, err := OpenRun(run)
	if err != nil {
		return nil, err
	}
	sha, err := onnx.Sha256(cfg.Backbone)
	if err != nil {
		return nil, fmt.Errorf("train: run %s: its backbone: %w", run, err)
	}
	if sha != cfg.BackboneSHA256 {
		return nil, fmt.Errorf("train: run %s was trained on a backbone with sha256 %.12s…, but %s now has %.12s…; restore the original file", run, cfg.BackboneSHA256, cfg.Backbone, sha)
	}
	pre := cfg.Preprocess
	if o.Preprocess != nil {
		if pre, err = o.Preprocess(pre); err != nil {
			return nil, err
		}
	}
	m, err := onnx.Load(cfg.Backbone)
	if err != nil {
		return nil, fmt.Errorf("train: run %s: %w", run, err)
	}
	bb, err := onnx.NewBackbone(m, cfg.BackboneOptions(o.Device, o.Threads))
	if err != nil {
		return nil, fmt.Errorf("train: run %s: %w", run, err)
	}
	head.SetThreads(o.Threads)
	lm := infer.NewModel(&infer.HeadScorer{Backbone: FeaturesFor(cfg, bb), Head: head}, pre, cfg.Classes, bb.Close)
	lm.Aug = o.Aug
	if lm.Mode, err = o.Mode.Resolve(infer.StaticInputHW(m), o.ModeSet); err != nil {
		lm.Close()
		return nil, err
	}
	return lm, nil
}
