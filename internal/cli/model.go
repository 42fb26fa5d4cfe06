package cli

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/train"
)

// modelFlags select what eval and predict run: an exported model or a run folder.
var modelFlags = []cli.Flag{
	&cli.StringFlag{Name: "model", Usage: "an ONNX segmentation model (lmpseg export, or any model with NCHW scores or an N1HW label map)"},
	&cli.StringFlag{Name: "run", Usage: "a run folder from lmpseg train (backbone + Go head)"},
	&cli.StringFlag{Name: "mode", Value: "whole", Usage: "inference: whole, slide or resize (static-shape models default to resize)"},
	&cli.StringFlag{Name: "crop", Usage: "slide: window HxW; resize: target HxW"},
	&cli.StringFlag{Name: "stride", Usage: "slide: stride HxW (default: 2/3 of the window)"},
}

// openModel opens what --model or --run names for inference.
func openModel(c *cli.Context) (*infer.Model, error) {
	mp, run := c.String("model"), c.String("run")
	if (mp == "") == (run == "") {
		return nil, errors.New("give exactly one of --model MODEL.onnx or --run RUN")
	}
	if err := initRuntime(c); err != nil {
		return nil, err
	}
	o := infer.ModelOptions{Device: c.String("device"), Threads: c.Int("threads"), Mode: infer.Mode{Name: c.String("mode")}, ModeSet: c.IsSet("mode"),
		Preprocess: func(base data.Preprocess) (data.Preprocess, error) { return preprocessFrom(c, base) }}
	var err error
	for _, f := range []struct {
		name string
		h, w *int
	}{{"crop", &o.Mode.CropH, &o.Mode.CropW}, {"stride", &o.Mode.StrideH, &o.Mode.StrideW}} {
		if s := c.String(f.name); s != "" {
			if *f.h, *f.w, err = parseHW(f.name, s); err != nil {
				return nil, err
			}
		}
	}
	if mp != "" {
		return infer.OpenModel(mp, o)
	}
	return train.OpenModel(run, o)
}
