package infer

import (
	"fmt"
	"io"
	"strings"

	"github.com/lmpseg/lmpseg/onnx"
)

// OutputReport is how eval and predict read a model's outputs: the plan of each, and the one
// used or why none can be chosen.
type OutputReport struct {
	Outputs []OutputPlan `json:"outputs"`
	Uses    string       `json:"uses,omitempty"`
	Why     string       `json:"why,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// DescribeOutputs plans the outputs of the model at path as OpenModel would, for inspect.
func DescribeOutputs(path string, o OutputOptions) (*OutputReport, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	m, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	md, err := ReadMetadata(m)
	if err != nil {
		md = nil // the report above shows the metadata as it is
	}
	r := &OutputReport{Outputs: PlanOutputs(m, md, o)}
	if p, why, err := ChooseOutput(r.Outputs, o); err != nil {
		r.Error = err.Error()
	} else {
		r.Uses, r.Why = p.Name, why
	}
	return r, nil
}

// Print writes the report as inspect shows it.
func (r *OutputReport) Print(w io.Writer) error {
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

// AuxName reports whether an output's name marks an auxiliary head (aux, aux_out, seg_aux1), the
// outputs ChooseOutput passes over.
func AuxName(name string) bool { return auxName(name) }
