package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/internal/demo"
)

var demoCommand = &cli.Command{
	Name:      "demo",
	Usage:     "compare LMP with the baseline losses on the synthetic long-tailed dataset, end to end",
	ArgsUsage: " ",
	Description: "Generates the synthetic street dataset and the demo backbone when missing, trains a linear head\n" +
		"with ce, wce (median frequency), ohem, topk and two LMP settings for the same budget over several\n" +
		"seeds, evaluates them on val, exports the LMP head as one ONNX model and checks that onnxruntime\n" +
		"evaluates it to the same numbers as the Go path. Prints the table and writes report.md,\n" +
		"report.json and PNG plots to --out.",
	Flags: flagGroups([]cli.Flag{
		&cli.StringFlag{Name: "out", Value: "demo-out", Usage: "output folder"},
		&cli.IntFlag{Name: "seeds", Value: 3, Usage: "seeds per loss"},
		&cli.BoolFlag{Name: "quick", Usage: "one seed and a short budget (a smoke run)"},
		&cli.IntFlag{Name: "iters", Usage: "iterations per run (default 100, 30 with --quick)"},
		&cli.IntFlag{Name: "batch", Value: 4, Usage: "images per iteration"},
		&cli.Float64Flag{Name: "lr", Value: 0.2, Usage: "base learning rate (SGD, momentum 0.9)"},
	}, runtimeFlags),
	Action: func(c *cli.Context) error {
		o := demo.Options{Out: c.String("out"), Seeds: c.Int("seeds"), Iters: c.Int("iters"), Batch: c.Int("batch"), LR: c.Float64("lr"),
			Device: c.String("device"), Threads: c.Int("threads"), Version: Version, Log: c.App.Writer}
		if c.Bool("quick") {
			o.Seeds = 1
			if o.Iters == 0 {
				o.Iters = 30
			}
		}
		if o.Seeds < 1 {
			return fmt.Errorf("--seeds %d: want at least 1", o.Seeds)
		}
		if err := initRuntime(c); err != nil {
			return err
		}
		return demo.Run(context.Background(), o)
	},
}
