package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/infer"
)

var predictCommand = &cli.Command{
	Name:      "predict",
	Usage:     "write label and colour masks for images",
	ArgsUsage: "IMAGE|FOLDER ...",
	Description: "Runs an exported model (--model) or a run folder (--run) on images (files or folders of\n" +
		"png/jpg) and writes, per image, NAME_labels.png (class index per pixel), NAME_color.png (the\n" +
		"dataset palette: Cityscapes and VOC built in, a generated one otherwise) and with --overlay\n" +
		"NAME_overlay.png (the mask blended over the image). A --model's output is read as 'lmpseg inspect'\n" +
		"shows (NCHW or NHWC scores, a one-channel binary map giving masks of 0 and 1, a label map);\n" +
		"--output, --output-layout and --binary-threshold override it.",
	Flags: flagGroups([]cli.Flag{
		&cli.StringFlag{Name: "out", Usage: "output folder"},
		&cli.BoolFlag{Name: "overlay", Usage: "also write the mask blended over the image"},
		&cli.Float64Flag{Name: "alpha", Value: 0.5, Usage: "overlay opacity of the mask"},
		strictFlag,
	}, modelFlags, preprocessFlags, runtimeFlags),
	Action: runPredict,
}

func runPredict(c *cli.Context) error {
	out := c.String("out")
	switch {
	case out == "":
		return errors.New("--out is required: the folder for the masks")
	case c.NArg() == 0:
		return errors.New("predict needs images or folders of images as arguments")
	case !(c.Float64("alpha") >= 0 && c.Float64("alpha") <= 1):
		return fmt.Errorf("--alpha %v: want a number in [0, 1]", c.Float64("alpha"))
	}
	files, err := data.ListImages(c.Args().Slice()...)
	if err != nil {
		return err
	}
	var st infer.PredictStats
	if err := withModel(c, func(lm *infer.Model) (err error) {
		st, err = infer.PredictFiles(context.Background(), lm, files, infer.PredictOptions{Out: out, Overlay: c.Bool("overlay"),
			Alpha: c.Float64("alpha"), Strict: c.Bool("strict"), Warn: func(m string) { fmt.Fprintln(c.App.ErrWriter, "warning: "+m) }})
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "wrote masks for %d images to %s", st.Written, out)
	if len(st.Skipped) > 0 {
		fmt.Fprintf(c.App.Writer, " (%d skipped)", len(st.Skipped))
	}
	fmt.Fprintln(c.App.Writer)
	return nil
}
