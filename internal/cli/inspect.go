package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

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
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "probe", Usage: "run one forward pass at HxW and list the feature tensors"},
		&cli.BoolFlag{Name: "json", Usage: "print JSON"},
	}, append(outputFlags, runtimeFlags...)...),
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
		seg, err := segmentationOutputs(path, outputOptions(c))
		if err != nil {
			return err
		}
		if c.Bool("json") {
			enc := json.NewEncoder(c.App.Writer)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				*onnx.Report
				Segmentation *segReport `json:"segmentation"`
			}{rep, seg})
		}
		if err := rep.Print(c.App.Writer); err != nil {
			return err
		}
		return seg.print(c.App.Writer)
	},
}

// segReport is how eval and predict would read the model's outputs (infer's output adapter).
type segReport struct {
	Outputs []infer.OutputPlan `json:"outputs"`
	Uses    string             `json:"uses,omitempty"`
	Why     string             `json:"why,omitempty"`
	Error   string             `json:"error,omitempty"`
}

func segmentationOutputs(path string, o infer.OutputOptions) (*segReport, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	m, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	md, err := infer.ReadMetadata(m)
	if err != nil {
		md = nil // the report above shows the metadata as it is
	}
	r := &segReport{Outputs: infer.PlanOutputs(m, md, o)}
	if p, why, err := infer.ChooseOutput(r.Outputs, o); err != nil {
		r.Error = err.Error()
	} else {
		r.Uses, r.Why = p.Name, why
	}
	return r, nil
}

func (r *segReport) print(w io.Writer) error {
	var b strings.Builder
	b.WriteString("\nas a segmentation model (lmpseg eval/predict --model; --output, --output-layout and\n--binary-threshold override):\n")
	for _, p := range r.Outputs {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  cannot choose: %s\n", strings.TrimPrefix(r.Error, "infer: "))
	} else {
		fmt.Fprintf(&b, "  uses %s (%s)\n", r.Uses, r.Why)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
