package cli

import (
	"errors"
	"fmt"

	"github.com/lmpseg/lmpseg/export"
	"github.com/urfave/cli/v2"
)

var exportCommand = &cli.Command{
	Name:      "export",
	Usage:     "export backbone + trained head as one ONNX model",
	ArgsUsage: " ",
	Description: "Cuts the run's backbone at its feature tensor (pruning what no longer feeds it), appends the\n" +
		"head as ONNX nodes (BatchNorm folded into Conv), resizes the logits bilinearly back to the input\n" +
		"size (half_pixel, as in training) and writes one model whose metadata holds the classes, palette\n" +
		"and preprocessing, so 'lmpseg eval' and 'predict' need no extra flags. It then runs the file in\n" +
		"onnxruntime and checks it against the Go forward pass (logit difference <= 1e-4 of the logits' scale)\n" +
		"before it replaces --out; the run's backbone is never overwritten.",
	Flags: flagGroups([]cli.Flag{
		&cli.StringFlag{Name: "run", Usage: "run folder"},
		&cli.StringFlag{Name: "out", Usage: "output ONNX file"},
		&cli.StringFlag{Name: "output", Value: "logits", Usage: "what the model outputs: logits, probs or labels"},
		&cli.StringFlag{Name: "labels-type", Value: "int64", Usage: "labels output: int64 or uint8"},
		&cli.BoolFlag{Name: "head-only", Usage: "write only the head, over the feature tensor"},
		&cli.BoolFlag{Name: "flip", Usage: "bake flip test-time augmentation in: average the probabilities of the image and its mirror image (output probs, or labels)"},
		&cli.StringFlag{Name: "probe", Usage: "size HxW of the parity-check input (default: the model's static size, else the training crop, else 128x256)"},
		&cli.Float64Flag{Name: "tolerance", Value: 1e-4, Usage: "parity check: largest allowed logit difference relative to max(1, max |logit|)"},
	}, runtimeFlags),
	Action: runExport,
}

func runExport(c *cli.Context) error {
	run, out := c.String("run"), c.String("out")
	if run == "" || out == "" {
		return errors.New("export needs --run RUN and --out MODEL.onnx")
	}
	o := export.Options{LabelsType: c.String("labels-type"), HeadOnly: c.Bool("head-only"), Flip: c.Bool("flip"),
		Tol: c.Float64("tolerance"), Device: c.String("device"), Threads: c.Int("threads"), Version: Version}
	if c.IsSet("output") || !o.Flip {
		o.Output = c.String("output")
	}
	if c.IsSet("probe") {
		var err error
		if o.ProbeH, o.ProbeW, err = parseHW("probe", c.String("probe")); err != nil {
			return err
		}
	}
	if err := initRuntime(c); err != nil {
		return err
	}
	res, err := export.Run(run, out, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "wrote %s (%d nodes, opset %d, output %q); parity check at %dx%d: max logit difference %.2e relative to the logits' scale (%.2e absolute, tolerance %.0e) over %d values, argmax agrees on %.4f%% of pixels\n",
		out, res.Nodes, res.Opset, res.Output, res.ProbeH, res.ProbeW, res.MaxRel, res.MaxAbs, o.Tol, res.Values, 100*res.Agree)
	return nil
}
