package cli

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/graph"
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
		fmt.Fprint(p.w, p.rc.Summary(p.out, p.cropDefault))
	}
	p.Progress.Start(total, start)
}

// recipeLift sets the lifted decoder of the recipe from --trainable-from and the flags that tune it
// (set says whether a flag overrides the base recipe).
func recipeLift(c *cli.Context, rc *train.Config, set func(string) bool) error {
	if set("trainable-from") {
		rc.Lift = nil
		if from := c.String("trainable-from"); from != "" {
			if c.IsSet("feature") && c.String("feature") != from {
				return fmt.Errorf("--feature %s and --trainable-from %s: the lifted decoder reads the tensor it is lifted from; drop --feature", c.String("feature"), from)
			}
			if c.IsSet("head") {
				return fmt.Errorf("--head %s and --trainable-from %s: the lifted decoder takes the place of a new head; drop --head", c.String("head"), from)
			}
			rc.Lift, rc.Feature = &train.LiftConfig{From: from}, from
			rc.Head = graph.HeadSpec{Kind: train.LiftedKind}
		}
	}
	if rc.Lift == nil {
		for _, f := range []string{"freeze-bn", "reset-classifier", "lr-lifted"} {
			if c.IsSet(f) {
				return fmt.Errorf("--%s tunes the decoder --trainable-from lifts; give --trainable-from TENSOR too", f)
			}
		}
		return nil
	}
	if set("freeze-bn") {
		rc.Lift.FreezeBN = c.Bool("freeze-bn")
	}
	if set("reset-classifier") {
		rc.Lift.ResetClassifier = c.Bool("reset-classifier")
	}
	if set("lr-lifted") {
		rc.Lift.LRMult = c.Float64("lr-lifted")
	}
	return nil
}
