package cli

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/lmpseg/lmpseg/train"
)

// recipeProgress prints the effective recipe once, when training starts: by then train.Run has
// filled in what the recipe left to the backbone and the data (the feature tensor, a default crop,
// iterations from epochs). The rest goes to the wrapped Progress.
type recipeProgress struct {
	train.Progress
	w           io.Writer
	rc          *train.Config
	out         string
	cropDefault bool // the crop was not asked for: train chose it
	quiet       bool
	printed     bool
}

func (p *recipeProgress) Start(total, start int) {
	if !p.printed && !p.quiet {
		p.printed = true
		fmt.Fprint(p.w, formatRecipe(p.rc, p.out, p.cropDefault))
	}
	p.Progress.Start(total, start)
}

// formatRecipe is the short block of the recipe's main settings that train prints.
func formatRecipe(rc *train.Config, out string, cropDefault bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "recipe (all of it in %s):\n", filepath.Join(out, train.ConfigFile))
	line := func(k, format string, args ...any) { fmt.Fprintf(&b, "  %-9s%s\n", k, fmt.Sprintf(format, args...)) }
	line("backbone", "%s", rc.Backbone)
	feat := rc.Feature
	if len(rc.FeatureShape) == 4 {
		feat += fmt.Sprintf(" (%d channels)", rc.FeatureShape[1])
	}
	line("feature", "%s", feat)
	crop := "none (whole images)"
	if rc.Crop[0] > 0 {
		crop = fmt.Sprintf("%dx%d", rc.Crop[0], rc.Crop[1])
		if cropDefault {
			crop += " (default)"
		}
	}
	line("crop", "%s", crop)
	scale := "none"
	if rc.Scale != [2]float64{1, 1} {
		scale = fmt.Sprintf("%g-%g", rc.Scale[0], rc.Scale[1])
	}
	if rc.Flip {
		scale += ", horizontal flip"
	}
	line("scale", "%s", scale)
	line("batch", "%d", rc.Batch)
	line("loss", "%s", lossSummary(rc.Loss))
	opt := rc.Optim.Name
	if opt == "sgd" {
		opt += fmt.Sprintf(", momentum %g", rc.Optim.Momentum)
	}
	line("lr", "%g (%s, weight decay %g)", rc.LR, opt, rc.Optim.WeightDecay)
	iters := fmt.Sprintf("%d", rc.Iters)
	if rc.Epochs > 0 {
		iters += fmt.Sprintf(" (%d epochs)", rc.Epochs)
	}
	line("iters", "%s", iters)
	return b.String()
}

// lossSummary names the loss with the options it uses.
func lossSummary(l train.LossConfig) string {
	o := l.Options
	switch l.Name {
	case "lmp":
		p := fmt.Sprintf("%g", o.P)
		if math.IsInf(o.P, 1) {
			p = "inf"
		}
		s := fmt.Sprintf("lmp (p %s, ratio %g", p, o.Ratio)
		if o.PerBatch {
			s += ", per batch"
		}
		return s + ")"
	case "wce":
		return fmt.Sprintf("wce (%s frequency weights)", l.ClassWeight)
	case "ohem":
		return fmt.Sprintf("ohem (threshold %g, at least %d pixels)", o.Thresh, o.MinKept)
	case "topk":
		return fmt.Sprintf("topk (hardest %g)", o.TopK)
	case "focal":
		return fmt.Sprintf("focal (gamma %g)", o.Gamma)
	}
	return l.Name
}
