package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/train"
)

// modelFlags select what eval and predict run: an exported model or a run folder.
var modelFlags = flagGroups([]cli.Flag{
	&cli.StringFlag{Name: "model", Usage: "an ONNX segmentation model: an lmpseg export, or any model with NCHW or NHWC class scores, a one-channel binary map or a label map (see lmpseg inspect)"},
	&cli.StringFlag{Name: "run", Usage: "a run folder from lmpseg train (backbone + Go head)"},
	&cli.StringFlag{Name: "mode", Value: "whole", Usage: "inference: whole, slide or resize (static-shape models default to resize)"},
	&cli.StringFlag{Name: "crop", Usage: "slide: window HxW; resize: target HxW"},
	&cli.StringFlag{Name: "stride", Usage: "slide: stride HxW (default: 2/3 of the window)"},
	&cli.BoolFlag{Name: "aug-test", Usage: "test-time augmentation: average the softmax scores over --scales (and --flip)"},
	&cli.StringFlag{Name: "scales", Value: "0.5,0.75,1,1.25,1.5,1.75", Usage: "aug-test: image scale factors"},
	&cli.BoolFlag{Name: "flip", Usage: "aug-test: also average the horizontally flipped image of every scale"},
}, outputFlags)

// augOptions reads the test-time augmentation flags (nil without --aug-test).
func augOptions(c *cli.Context) (*infer.Aug, error) {
	if !c.Bool("aug-test") {
		if c.IsSet("scales") || c.IsSet("flip") {
			return nil, errors.New("--scales and --flip are test-time augmentation: add --aug-test")
		}
		return nil, nil
	}
	a := &infer.Aug{Flip: c.Bool("flip")}
	for _, f := range strings.Split(c.String("scales"), ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("--scales %q: %q is not a number", c.String("scales"), f)
		}
		a.Scales = append(a.Scales, v)
	}
	return a, a.Validate()
}

// outputFlags override how the output adapter reads an ONNX model's output (see 'lmpseg inspect').
var outputFlags = []cli.Flag{
	&cli.StringFlag{Name: "output", Usage: "the model output to use (default: the only one, or the one not named aux...)"},
	&cli.StringFlag{Name: "output-layout", Usage: "nchw or nhwc: where a 4-D output holds its classes (default: from the model's nodes and sizes)"},
	&cli.Float64Flag{Name: "binary-threshold", Usage: "a one-channel output is foreground where it exceeds this (default: 0.5 after a Sigmoid, else 0)"},
}

// outputOptions reads the output flags.
func outputOptions(c *cli.Context) infer.OutputOptions {
	return infer.OutputOptions{Name: c.String("output"), Layout: strings.ToLower(c.String("output-layout")),
		Threshold: c.Float64("binary-threshold"), ThresholdSet: c.IsSet("binary-threshold")}
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
	o.Output = outputOptions(c)
	if o.Aug, err = augOptions(c); err != nil {
		return nil, err
	}
	if mp != "" {
		return infer.OpenModel(mp, o)
	}
	for _, f := range []string{"output", "output-layout", "binary-threshold"} {
		if c.IsSet(f) {
			return nil, fmt.Errorf("--%s applies to an ONNX --model; a --run folder's Go head outputs NCHW class scores", f)
		}
	}
	return train.OpenModel(run, o)
}
