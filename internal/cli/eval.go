package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/metrics"
	"github.com/lmpseg/lmpseg/train"
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
	Flags: append(append(append(append([]cli.Flag{
		&cli.StringFlag{Name: "json", Usage: "write the full report with the confusion matrix to this file"},
		&cli.StringFlag{Name: "plot", Usage: "write confusion-matrix and per-class IoU plots (PNG) to this folder"},
		&cli.StringFlag{Name: "shard", Usage: "i/N: evaluate images i, i+N, i+2N, ..."},
		&cli.IntFlag{Name: "shards", Usage: "N for the shard index read from JOB_COMPLETION_INDEX (Kubernetes Indexed Job)"},
		&cli.BoolFlag{Name: "strict", Usage: "stop at an image that fails to decode (default: name it and go on)"},
		&cli.IntFlag{Name: "classes", Usage: "number of classes (default: the model's metadata or the dataset)"},
		&cli.StringFlag{Name: "class-map", Usage: "map the model's classes to the dataset's: a FILE (JSON, or \"model_id dataset_id\" lines; -1 or ignore drops), reduce-zero-label or by-name"},
		&cli.StringFlag{Name: "report", Usage: "write an HTML report (metrics, plots, the worst images) into this folder"},
		&cli.IntFlag{Name: "report-worst", Value: 8, Usage: "the number of lowest-mIoU images the HTML report shows"},
	}, modelFlags...), dataFlags...), preprocessFlags...), runtimeFlags...),
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
	lm, err := openModel(c)
	if err != nil {
		return err
	}
	defer lm.Close()
	split := c.String("split")
	if split == "" {
		split = "val"
	}
	mapSpec := c.String("class-map")
	opts := data.Options{Ignore: int32(c.Int("ignore")), NumClasses: c.Int("classes"), Split: split}
	if opts.NumClasses == 0 && mapSpec == "" {
		opts.NumClasses = len(lm.Classes)
	}
	ds, err := data.Open(c.String("data"), c.String("format"), opts)
	if err != nil {
		return err
	}
	classes := ds.Classes()
	var cmap *infer.ClassMap
	if mapSpec == "" {
		if len(lm.Classes) > 0 && len(lm.Classes) != len(classes) {
			return fmt.Errorf("the model has %d classes, the dataset %s has %d; evaluate on a dataset with the model's classes, or map them with --class-map", len(lm.Classes), c.String("data"), len(classes))
		}
		if lm.OutClasses > 0 && lm.OutClasses != len(classes) {
			return fmt.Errorf("the model %s outputs %d classes, the dataset %s has %d; evaluate on a dataset with the model's classes, or map them with --class-map", c.String("model"), lm.OutClasses, c.String("data"), len(classes))
		}
		if err := train.CheckClassNames(lm.Classes, classes, c.String("model")+c.String("run"), c.String("data")); err != nil {
			return err
		}
		lm.Classes = classes
	} else {
		modelK := len(lm.Classes)
		if modelK == 0 {
			modelK = lm.OutClasses
		}
		if cmap, err = infer.ParseClassMap(mapSpec, lm.Classes, modelK, classes); err != nil {
			return err
		}
	}
	worst := newWorstImages(c.Int("report-worst"), len(classes), int32(c.Int("ignore")))
	if c.String("report") != "" && c.Int("report-worst") < 0 {
		return fmt.Errorf("--report-worst %d: want a count of images, 0 or more", c.Int("report-worst"))
	}
	eo := infer.EvalOptions{
		Shard: sh.I, Shards: sh.N, Strict: c.Bool("strict"), Ignore: int32(c.Int("ignore")), ClassMap: cmap,
	}
	if c.String("report") != "" {
		eo.Image = worst.add
	}
	prog := newProgress(c.App.ErrWriter, len(sh.Indices(ds.Len())), 0, false)
	eo.Progress = func(done, total int) { prog.Step(done, 0, 0) }
	eo.Warn = func(msg string) { prog.Note("warning: %s", msg) }
	conf, st, err := infer.Evaluate(context.Background(), lm.Predictor, ds, len(classes), eo)
	prog.Finish()
	if err == nil {
		err = conf.Err()
	}
	if err != nil {
		return err
	}
	if st.Images == 0 && len(st.Skipped) > 0 {
		return fmt.Errorf("no image of %s could be evaluated: all %d failed to load (first: %s; the warnings above say why)", c.String("data"), len(st.Skipped), st.Skipped[0])
	}
	res := metrics.NewResult(classes, sh)
	res.Conf, res.Images, res.DatasetImages = conf, st.Images, ds.Len()
	res.Meta = map[string]string{"model": c.String("model"), "run": c.String("run"), "data": c.String("data"), "mode": lm.Mode.Name, "tool": "lmpseg " + Version}
	if lm.Output != nil {
		res.Meta["output"] = lm.Output.Plan.String()
	}
	if cmap != nil {
		res.Meta["class_map"], res.Meta["class_map_pairs"] = cmap.Summary(), cmap.Pairs()
		fmt.Fprintln(c.App.Writer, cmap.Summary())
	}
	if err := writeReport(c, res); err != nil {
		return err
	}
	if dir := c.String("report"); dir != "" {
		pal := lm.Palette
		if len(pal) < len(classes) {
			pal = metrics.Palette(len(classes))
		}
		if err := worst.write(dir, res, pal); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "HTML report: %s\n", filepath.Join(dir, metrics.HTMLReportFile))
	}
	fmt.Fprintf(c.App.Writer, "%d images in %.1f s (%.2f images/s)", st.Images, st.Seconds, st.ImagesPerSecond())
	if len(st.Skipped) > 0 {
		fmt.Fprintf(c.App.Writer, "; %d skipped (failed to decode)", len(st.Skipped))
	}
	fmt.Fprintln(c.App.Writer)
	return nil
}

func writeReport(c *cli.Context, f *metrics.Result) error {
	rep := f.Report()
	if err := rep.Print(c.App.Writer); err != nil {
		return err
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

// worstImages keeps the k images of lowest mIoU (images whose pixels are all ignored are left
// out) for the HTML report.
type worstImages struct {
	k, classes int
	ignore     int32
	kept       []worstImage
}

type worstImage struct {
	s    *data.Sample
	pred []int32
	miou float64
}

func newWorstImages(k, classes int, ignore int32) *worstImages {
	return &worstImages{k: k, classes: classes, ignore: ignore}
}

// add is the per-image callback of infer.Evaluate.
func (w *worstImages) add(s *data.Sample, pred []int32) {
	if w.k <= 0 {
		return
	}
	m := metrics.ImageMIoU(s.Label, pred, w.classes, w.ignore)
	if math.IsNaN(m) {
		return
	}
	if len(w.kept) == w.k {
		hi := 0
		for i, x := range w.kept {
			if x.miou > w.kept[hi].miou {
				hi = i
			}
		}
		if m >= w.kept[hi].miou {
			return
		}
		w.kept = slices.Delete(w.kept, hi, hi+1)
	}
	w.kept = append(w.kept, worstImage{s, pred, m})
}

// write writes each kept image, its labels and its prediction as PNGs into dir and the HTML
// report of res beside them.
func (w *worstImages) write(dir string, res *metrics.Result, pal [][3]uint8) error {
	slices.SortStableFunc(w.kept, func(a, b worstImage) int { return cmp.Compare(a.miou, b.miou) })
	sub := filepath.Join(dir, "images")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return err
	}
	var list []metrics.WorstImage
	for i, x := range w.kept {
		s := x.s
		base := fmt.Sprintf("%02d", i+1)
		wi := metrics.WorstImage{Name: s.Name, MIoU: x.miou, Image: filepath.Join("images", base+"_image.png"),
			GroundTruth: filepath.Join("images", base+"_gt.png"), Prediction: filepath.Join("images", base+"_pred.png")}
		if err := metrics.WriteImagePNG(filepath.Join(dir, wi.Image), s.Image, s.H, s.W); err != nil {
			return err
		}
		if err := metrics.WriteMaskPNG(filepath.Join(dir, wi.GroundTruth), s.Label, s.W, s.H, pal); err != nil {
			return err
		}
		if err := metrics.WriteMaskPNG(filepath.Join(dir, wi.Prediction), x.pred, s.W, s.H, pal); err != nil {
			return err
		}
		list = append(list, wi)
	}
	return metrics.WriteHTMLReportWith(dir, res, list, metrics.HTMLOptions{Palette: pal})
}
