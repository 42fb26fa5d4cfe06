package cli

import (
	"fmt"
	"io"

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
