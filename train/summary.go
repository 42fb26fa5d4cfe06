package train

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// Summary is the short block of the recipe's main settings that a training job prints once: the
// backbone, feature, crop (marked as the default when cropDefault), augmentation, batch, loss,
// learning rate and iterations; the rest is in out's config.json.
func (rc *Config) Summary(out string, cropDefault bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "recipe (all of it in %s):\n", filepath.Join(out, ConfigFile))
	line := func(k, format string, args ...any) { fmt.Fprintf(&b, "  %-9s%s\n", k, fmt.Sprintf(format, args...)) }
	line("backbone", "%s", rc.Backbone)
	feat := rc.Feature
	if len(rc.FeatureShape) == 4 && !rc.packed() {
		feat += fmt.Sprintf(" (%d channels)", rc.FeatureShape[1])
	}
	line("feature", "%s", feat)
	if l := rc.Lift; l != nil {
		d := "the backbone's own, lifted from the feature to the output"
		if len(l.Inputs) > 1 {
			d += "; it also reads " + strings.Join(l.Inputs[1:], ", ")
		}
		bn := "trained"
		if l.FreezeBN {
			bn = "frozen"
		}
		cls := "kept when the classes are the model's"
		if l.ResetClassifier {
			cls = "new"
		}
		line("decoder", "%s", d)
		line("", "pretrained weights at %g x lr, batch norms %s, classifier %s", l.LRMult, bn, cls)
	}
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
func lossSummary(l LossConfig) string {
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
