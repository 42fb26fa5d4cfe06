package cli

import (
	"encoding/json"
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/onnx"
)

var inspectCommand = &cli.Command{
	Name:      "inspect",
	Usage:     "describe an ONNX model and list candidate feature tensors",
	ArgsUsage: "MODEL.onnx",
	Description: "Prints the IR version, opsets, producer, inputs and outputs (symbolic dims by name), node\n" +
		"count, op histogram and parameter count. With --probe HxW it runs one forward pass on a dummy\n" +
		"input of that size and lists every rank-4 float tensor with its shape and stride, the tensors\n" +
		"just before the classifier last: those are the usual --feature choices for 'lmpseg train'. Last it\n" +
		"says how 'lmpseg eval' and 'predict' would read each output (scores NCHW or NHWC, binary, label\n" +
		"map) and why, and which output they would use.",
	Flags: flagGroups([]cli.Flag{
		&cli.StringFlag{Name: "probe", Usage: "run one forward pass at HxW and list the feature tensors"},
		&cli.BoolFlag{Name: "json", Usage: "print JSON"},
	}, outputFlags, runtimeFlags),
	Action: func(c *cli.Context) error {
		if c.NArg() != 1 {
			return errors.New("inspect takes one argument: the model file (lmpseg inspect [--probe HxW] MODEL.onnx)")
		}
		path := c.Args().First()
		var h, w int
		if p := c.String("probe"); p != "" {
			var err error
			if h, w, err = parseHW("probe", p); err != nil {
				return err
			}
			if err := initRuntime(c); err != nil {
				return err
			}
		}
		rep, err := onnx.Inspect(path, h, w, backboneOptions(c, ""))
		if err != nil {
			return err
		}
		seg, err := infer.DescribeOutputs(path, outputOptions(c))
		if err != nil {
			return err
		}
		if c.Bool("json") {
			enc := json.NewEncoder(c.App.Writer)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				*onnx.Report
				Segmentation *infer.OutputReport `json:"segmentation"`
			}{rep, seg})
		}
		if err := rep.Print(c.App.Writer); err != nil {
			return err
		}
		return seg.Print(c.App.Writer)
	},
}
