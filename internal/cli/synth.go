package cli

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/internal/synth"
)

var synthCommand = &cli.Command{
	Name:      "synth",
	Usage:     "generate the synthetic long-tailed street dataset",
	ArgsUsage: " ",
	Description: "Writes a deterministic (seeded) street-like segmentation dataset in the folder layout\n" +
		"(DIR/train and DIR/val, each with images/, labels/ and classes.txt) whose class frequencies\n" +
		"have a long tail close to Cityscapes'. The demo trains on it.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "out", Usage: "output folder"},
		&cli.Int64Flag{Name: "seed", Value: 1, Usage: "random seed"},
		&cli.IntFlag{Name: "train", Value: 0, Usage: "training images (0: default)"},
		&cli.IntFlag{Name: "val", Value: 0, Usage: "validation images (0: default)"},
		&cli.StringFlag{Name: "size", Usage: "image size HxW (default 256x512)"},
	},
	Action: func(c *cli.Context) error {
		out := c.String("out")
		if out == "" {
			return errors.New("--out is required: the folder to write the dataset to")
		}
		o := synth.Options{Seed: c.Int64("seed"), Train: c.Int("train"), Val: c.Int("val")}
		if s := c.String("size"); s != "" {
			var err error
			if o.H, o.W, err = parseHW("size", s); err != nil {
				return err
			}
		}
		if err := synth.Generate(out, o); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "wrote the synthetic dataset to %s\n", out)
		return nil
	},
}
