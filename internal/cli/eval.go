package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/metrics"
)

var evalCommand = &cli.Command{
	Name:      "eval",
	Usage:     "evaluate a segmentation model (mIoU, per-class IoU, accuracy, Dice)",
	ArgsUsage: " ",
	Description: "Evaluates an ONNX segmentation model (--model) or a run folder (--run) on a labelled dataset,\n" +
		"from one confusion matrix with the ignore label excluded: per-class IoU, accuracy and Dice, and\n" +
		"aAcc, mIoU, mAcc and fwIoU. Classes absent from both predictions and labels are left out of the\n" +
		"means. --shard i/N evaluates every N-th image (default from JOB_COMPLETION_INDEX or\n" +
		"SLURM_ARRAY_TASK_ID); 'lmpseg eval merge' sums the shards' --json reports.\n\n" +
		"A --model's output is read as 'lmpseg inspect MODEL' shows: NCHW or NHWC class scores, a\n" +
		"one-channel binary probability or logit (two classes, background and foreground, split at\n" +
		"--binary-threshold) or a label map; --output and --output-layout decide where the model does\n" +
		"not. --class-map maps the model's classes to the dataset's before counting: a pixel predicted\n" +
		"as a dropped class counts as no class, wrong for any labelled pixel. reduce-zero-label is\n" +
		"ADE20K's convention for a dataset of raw labels (model class j is raw label j+1, raw label 0 is\n" +
		"ignored); by-name matches the model's class names with the dataset's.",
	Flags: flagGroups([]cli.Flag{
		&cli.StringFlag{Name: "json", Usage: "write the full report with the confusion matrix to this file"},
		&cli.StringFlag{Name: "plot", Usage: "write confusion-matrix and per-class IoU plots (PNG) to this folder"},
		shardFlag("evaluate"),
		shardsFlag,
		strictFlag,
		&cli.IntFlag{Name: "classes", Usage: "number of classes (default: the model's metadata or the dataset)"},
		&cli.StringFlag{Name: "class-map", Usage: "map the model's classes to the dataset's: a FILE (JSON, or \"model_id dataset_id\" lines; -1 or ignore drops), reduce-zero-label or by-name"},
		&cli.StringFlag{Name: "report", Usage: "write an HTML report (metrics, plots, the worst images) into this folder"},
		&cli.IntFlag{Name: "report-worst", Value: 8, Usage: "the number of lowest-mIoU images the HTML report shows"},
	}, modelFlags, dataFlags, preprocessFlags, runtimeFlags),
	Subcommands: []*cli.Command{evalMergeCommand},
	Action:      runEval,
}

var evalMergeCommand = &cli.Command{
	Name:        "merge",
	Usage:       "sum the confusion matrices of shard reports into one report",
	ArgsUsage:   "A.json B.json ...",
	Description: "Reads the --json reports of 'lmpseg eval --shard i/N' runs, checks they share classes, sums\nthe confusion matrices and prints (and with --json writes) the merged report.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "json", Usage: "write the merged report here"},
		&cli.StringFlag{Name: "plot", Usage: "write plots (PNG) to this folder"},
		&cli.BoolFlag{Name: "allow-missing", Usage: "merge even when shards are missing (a partial result, marked as such)"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 {
			return errors.New("eval merge takes the shard reports: lmpseg eval merge A.json B.json ...")
		}
		merged, err := metrics.MergeFiles(c.Args().Slice(), metrics.MergeOptions{AllowMissing: c.Bool("allow-missing"),
			Warn: func(m string) { fmt.Fprintln(c.App.ErrWriter, "warning: "+m) }})
		if err != nil {
			return err
		}
		return writeReport(c, merged)
	},
}

// shardSpec returns the shard from --shard, else from the environment.
func shardSpec(c *cli.Context) (metrics.Shard, error) {
	return metrics.ResolveShard(c.String("shard"), c.Int("shards"))
}

func runEval(c *cli.Context) error {
	if c.String("data") == "" {
		return errors.New("--data is required: the labelled dataset to evaluate on")
	}
	sh, err := shardSpec(c)
	if err != nil {
		return err
	}
	return withModel(c, func(lm *infer.Model) error { return evaluate(c, lm, sh) })
}

// withModel opens what --model or --run names, calls f with it and closes it.
func withModel(c *cli.Context, f func(*infer.Model) error) error {
	lm, err := openModel(c)
	if err != nil {
		return err
	}
	defer lm.Close()
	return f(lm)
}

// evaluate runs the evaluation of the opened model lm over shard sh of --data and prints it.
func evaluate(c *cli.Context, lm *infer.Model, sh metrics.Shard) error {
	opts := data.Options{Ignore: int32(c.Int("ignore")), NumClasses: c.Int("classes"), Split: cmp.Or(c.String("split"), "val")}
	if opts.NumClasses == 0 && c.String("class-map") == "" {
		opts.NumClasses = len(lm.Classes)
	}
	ds, err := data.Open(c.String("data"), c.String("format"), opts)
	if err != nil {
		return err
	}
	prog := newProgress(c.App.ErrWriter, len(sh.Indices(ds.Len())), 0, false)
	job, err := infer.EvaluateJob(context.Background(), lm, ds, c.String("model")+c.String("run"), c.String("data"), infer.JobOptions{
		Shard: sh, Strict: c.Bool("strict"), Ignore: int32(c.Int("ignore")), ClassMap: c.String("class-map"),
		ReportDir: c.String("report"), ReportWorst: c.Int("report-worst"),
		Meta:     map[string]string{"model": c.String("model"), "run": c.String("run"), "data": c.String("data"), "tool": "lmpseg " + Version},
		Progress: func(done, total int) { prog.Step(done, 0, 0) }, Warn: func(msg string) { prog.Note("warning: %s", msg) },
	})
	prog.Finish()
	if err != nil {
		return err
	}
	if job.ClassMap != nil {
		fmt.Fprintln(c.App.Writer, job.ClassMap.Summary())
	}
	if err := writeReport(c, job.Result); err != nil {
		return err
	}
	printEvalStats(c.App.Writer, job.Stats)
	return nil
}

// printEvalStats prints the closing line of an evaluation.
func printEvalStats(w io.Writer, st infer.EvalStats) {
	fmt.Fprintf(w, "%d images in %.1f s (%.2f images/s)", st.Images, st.Seconds, st.ImagesPerSecond())
	if len(st.Skipped) > 0 {
		fmt.Fprintf(w, "; %d skipped (failed to decode)", len(st.Skipped))
	}
	fmt.Fprintln(w)
}

func writeReport(c *cli.Context, f *metrics.Result) error {
	rep := f.Report()
	if err := rep.Print(c.App.Writer); err != nil {
		return err
	}
	if dir := c.String("report"); dir != "" {
		fmt.Fprintf(c.App.Writer, "HTML report: %s\n", filepath.Join(dir, metrics.HTMLReportFile))
	}
	if p := c.String("json"); p != "" {
		if err := f.Save(p); err != nil {
			return err
		}
	}
	if dir := c.String("plot"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := metrics.ConfusionHeatmap(filepath.Join(dir, "confusion.png"), f.Conf, f.Names); err != nil {
			return err
		}
		if err := metrics.IoUBars(filepath.Join(dir, "iou.png"), f.Names, rep.IoUs()); err != nil {
			return err
		}
	}
	return nil
}
