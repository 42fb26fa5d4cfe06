package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/lmp"
	"github.com/lmpseg/lmpseg/onnx"
	"github.com/lmpseg/lmpseg/train"
)

// Flag groups shared by train, eval and predict.
var (
	dataFlags = []cli.Flag{
		&cli.StringFlag{Name: "data", Usage: "dataset folder"},
		&cli.StringFlag{Name: "format", Usage: "dataset layout: folder, cityscapes or voc (default: detect)"},
		&cli.StringFlag{Name: "split", Usage: "split for cityscapes/voc (default: train for training, val for eval)"},
		&cli.IntFlag{Name: "ignore", Value: 255, Usage: "ignore label"},
	}
	preprocessFlags = []cli.Flag{
		&cli.StringFlag{Name: "mean", Usage: "per-channel mean, in the units of --range (default: ImageNet, or the model's metadata)"},
		&cli.StringFlag{Name: "std", Usage: "per-channel std, in the units of --range"},
		&cli.StringFlag{Name: "range", Usage: "input value range the backbone expects: 0-1 or 0-255 (default 0-1)"},
		&cli.StringFlag{Name: "channels", Usage: "channel order the backbone expects: RGB or BGR (default RGB)"},
	}
)

var trainCommand = &cli.Command{
	Name:      "train",
	Usage:     "train a segmentation head on a frozen ONNX backbone",
	ArgsUsage: " ",
	Description: "Runs the backbone (onnxruntime) on the training images, trains a head in Go on the chosen\n" +
		"feature tensor with the chosen pixel loss (Loss Max-Pooling by default), validates on --val-data,\n" +
		"and keeps everything needed to rebuild, resume and export the model in the run folder --out.\n" +
		"SIGINT/SIGTERM finish the current step, write a checkpoint and exit 130/143; --resume continues.",
	Flags: append(append(append([]cli.Flag{
		&cli.StringFlag{Name: "backbone", Usage: "pretrained model (ONNX)"},
		&cli.StringFlag{Name: "feature", Usage: "tensor to train the head on (default: the model's first output)"},
		&cli.StringFlag{Name: "val-data", Usage: "validation dataset folder (same format)"},
		&cli.IntFlag{Name: "classes", Usage: "number of classes (default: from classes.txt or the format)"},
		&cli.StringFlag{Name: "class-names", Usage: "comma-separated class names"},
		&cli.StringFlag{Name: "out", Usage: "run folder"},
		&cli.StringFlag{Name: "head", Value: "linear", Usage: "head: linear or fcn"},
		&cli.IntFlag{Name: "hidden", Value: 256, Usage: "fcn head: hidden channels"},
		&cli.StringFlag{Name: "loss", Value: "lmp", Usage: "pixel loss: ce, wce, ohem, topk, focal or lmp"},
		&cli.Float64Flag{Name: "lmp-p", Value: 1.7, Usage: "lmp: norm exponent p in [1, inf]"},
		&cli.Float64Flag{Name: "lmp-ratio", Value: 0.25, Usage: "lmp: ratio r in [0, 1] (m = r*n pixels)"},
		&cli.BoolFlag{Name: "lmp-per-batch", Usage: "lmp: pool over the whole batch instead of per image"},
		&cli.StringFlag{Name: "class-weighting", Value: "median", Usage: "wce: inverse or median (frequency balancing)"},
		&cli.Float64Flag{Name: "ohem-thresh", Value: 0.7, Usage: "ohem: probability threshold"},
		&cli.IntFlag{Name: "ohem-min-kept", Value: 100000, Usage: "ohem: pixels kept at least"},
		&cli.Float64Flag{Name: "topk", Value: 0.25, Usage: "topk: fraction of hardest pixels"},
		&cli.Float64Flag{Name: "focal-gamma", Value: 2, Usage: "focal: gamma"},
		&cli.IntFlag{Name: "iters", Usage: "training iterations"},
		&cli.IntFlag{Name: "epochs", Usage: "training epochs (instead of --iters)"},
		&cli.IntFlag{Name: "batch", Value: 2, Usage: "images per iteration"},
		&cli.StringFlag{Name: "crop", Usage: "random crop HxW (default: whole images)"},
		&cli.StringFlag{Name: "scale", Value: "0.5,2.0", Usage: "random scale range min,max (1,1: none)"},
		&cli.BoolFlag{Name: "flip", Value: true, Usage: "random horizontal flip"},
		&cli.Float64Flag{Name: "lr", Value: 0.01, Usage: "base learning rate"},
		&cli.StringFlag{Name: "optimizer", Value: "sgd", Usage: "sgd or adamw"},
		&cli.Float64Flag{Name: "momentum", Value: 0.9, Usage: "sgd momentum"},
		&cli.BoolFlag{Name: "nesterov", Usage: "sgd: Nesterov momentum"},
		&cli.Float64Flag{Name: "weight-decay", Value: 5e-4, Usage: "weight decay (L2 for sgd, decoupled for adamw)"},
		&cli.IntFlag{Name: "warmup", Usage: "linear warm-up iterations"},
		&cli.Float64Flag{Name: "clip", Usage: "clip the gradient norm at this value (0: off)"},
		&cli.Int64Flag{Name: "seed", Value: 1, Usage: "random seed (runs are bit-identical with --threads 1)"},
		&cli.IntFlag{Name: "val-every", Value: 0, Usage: "validate every K iterations (0: only at the end)"},
		&cli.IntFlag{Name: "ckpt-every", Value: 50, Usage: "write a checkpoint every K iterations"},
		&cli.BoolFlag{Name: "cache-features", Usage: "extract features once to disk (float16) and reuse them; disables augmentation"},
		&cli.StringFlag{Name: "cache-dir", Usage: "feature cache folder (default: $XDG_CACHE_HOME/lmpseg/features)"},
		&cli.BoolFlag{Name: "resume", Usage: "continue the run in --out from its last checkpoint"},
		&cli.BoolFlag{Name: "force", Usage: "overwrite a different run in --out"},
		&cli.BoolFlag{Name: "quiet", Usage: "no progress output"},
	}, dataFlags...), preprocessFlags...), runtimeFlags...),
	Action: runTrain,
}

func parseTriple(flag, s string, def [3]float32) ([3]float32, error) {
	if s == "" {
		return def, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return def, fmt.Errorf("--%s %q: want three comma-separated numbers", flag, s)
	}
	var out [3]float32
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return def, fmt.Errorf("--%s %q: %q is not a number", flag, s, p)
		}
		out[i] = float32(v)
	}
	return out, nil
}

// preprocessFrom builds the preprocessing from flags over base (ImageNet, or a model's metadata).
func preprocessFrom(c *cli.Context, base data.Preprocess) (data.Preprocess, error) {
	p := base
	if r := c.String("range"); r != "" {
		if r != "0-1" && r != "0-255" {
			return p, fmt.Errorf("--range %q: want 0-1 or 0-255", r)
		}
		if r != p.Range && c.String("mean") == "" {
			// Keep ImageNet statistics meaningful in the other range.
			f := float32(255)
			if r == "0-1" {
				f = 1.0 / 255
			}
			for i := range p.Mean {
				p.Mean[i] *= f
				p.Std[i] *= f
			}
		}
		p.Range = r
	}
	if ch := strings.ToUpper(c.String("channels")); ch != "" {
		if ch != "RGB" && ch != "BGR" {
			return p, fmt.Errorf("--channels %q: want RGB or BGR", ch)
		}
		p.Channels = ch
	}
	var err error
	if p.Mean, err = parseTriple("mean", c.String("mean"), p.Mean); err != nil {
		return p, err
	}
	if p.Std, err = parseTriple("std", c.String("std"), p.Std); err != nil {
		return p, err
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("--mean/--std/--range: %w", err)
	}
	return p, nil
}

func lossOptions(c *cli.Context) (train.LossConfig, error) {
	lc := train.LossConfig{Name: c.String("loss"), Options: lmp.Options{
		P: c.Float64("lmp-p"), Ratio: c.Float64("lmp-ratio"), PerBatch: c.Bool("lmp-per-batch"),
		Gamma: c.Float64("focal-gamma"), Thresh: c.Float64("ohem-thresh"), MinKept: c.Int("ohem-min-kept"),
		TopK: c.Float64("topk"),
	}}
	if lc.Name == "wce" {
		lc.ClassWeight = c.String("class-weighting")
		if lc.ClassWeight != "inverse" && lc.ClassWeight != "median" {
			return lc, fmt.Errorf("--class-weighting %q: want inverse or median", lc.ClassWeight)
		}
	}
	// Validate early: New returns the errors for bad p, ratio, names.
	probe := lc.Options
	if lc.Name == "wce" {
		probe.ClassWeights = []float32{1}
	}
	if _, err := lmp.New(lc.Name, probe); err != nil {
		return lc, err
	}
	return lc, nil
}

func defaultCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "lmpseg", "features")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "lmpseg", "features")
	}
	return filepath.Join(os.TempDir(), "lmpseg-features")
}

// signalContext returns a context cancelled on SIGINT or SIGTERM and a function reporting which.
func signalContext() (context.Context, func() os.Signal, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var got os.Signal
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			got = s
			cancel()
		case <-done:
		}
	}()
	return ctx, func() os.Signal { return got }, func() { signal.Stop(ch); close(done); cancel() }
}

func runTrain(c *cli.Context) error {
	if err := fileMustExist("backbone", c.String("backbone")); err != nil {
		return err
	}
	if c.String("data") == "" {
		return errors.New("--data is required: the training dataset folder")
	}
	out := c.String("out")
	if out == "" {
		return errors.New("--out is required: the run folder to write")
	}
	if c.Int("iters") > 0 && c.Int("epochs") > 0 {
		return errors.New("give --iters or --epochs, not both")
	}
	if c.Int("batch") < 1 {
		return fmt.Errorf("--batch %d: want at least 1", c.Int("batch"))
	}
	headKind := c.String("head")
	if headKind != "linear" && headKind != "fcn" {
		return fmt.Errorf("--head %q: want linear or fcn", headKind)
	}
	for _, f := range []struct {
		name, want string
		ok         func(float64) bool
	}{
		{"lr", "a positive number", func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }},
		{"momentum", "a number in [0, 1)", func(v float64) bool { return v >= 0 && v < 1 }},
		{"weight-decay", "a number >= 0", func(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }},
		{"clip", "a number >= 0 (0: off)", func(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }},
	} {
		if v := c.Float64(f.name); !f.ok(v) {
			return fmt.Errorf("--%s %v: want %s", f.name, v, f.want)
		}
	}
	lc, err := lossOptions(c)
	if err != nil {
		return err
	}
	pre, err := preprocessFrom(c, data.ImageNet)
	if err != nil {
		return err
	}
	var crop [2]int
	if s := c.String("crop"); s != "" {
		if crop[0], crop[1], err = parseHW("crop", s); err != nil {
			return err
		}
	}
	var scale [2]float64
	if _, err := fmt.Sscanf(c.String("scale"), "%g,%g", &scale[0], &scale[1]); err != nil || scale[0] <= 0 || scale[1] < scale[0] {
		return fmt.Errorf("--scale %q: want min,max with 0 < min <= max, e.g. 0.5,2.0", c.String("scale"))
	}
	flip := c.Bool("flip")
	if c.Bool("cache-features") {
		if c.IsSet("scale") && scale != [2]float64{1, 1} || c.IsSet("flip") && flip || crop != [2]int{} {
			return errors.New("--cache-features stores one feature map per image, so it cannot be combined with --crop, --scale or --flip; drop those flags or the cache")
		}
		scale, flip = [2]float64{1, 1}, false
	}
	if crop == [2]int{} && scale != [2]float64{1, 1} && c.Int("batch") > 1 {
		return fmt.Errorf("--scale %s without --crop gives images of different sizes, which cannot share a batch of %d; give --crop HxW, --scale 1,1 or --batch 1", c.String("scale"), c.Int("batch"))
	}
	if c.Int("threads") > 0 {
		graph.SetThreads(c.Int("threads"))
	}

	// Data.
	var names []string
	if s := c.String("class-names"); s != "" {
		names = strings.Split(s, ",")
	}
	split := c.String("split")
	ds, err := data.Open(c.String("data"), c.String("format"), data.Options{
		Ignore: int32(c.Int("ignore")), NumClasses: c.Int("classes"), ClassNames: names, Split: split})
	if err != nil {
		return err
	}
	classes := ds.Classes()
	if len(classes) < 2 {
		return fmt.Errorf("%s: %d classes; give --classes N or --class-names, or add classes.txt", c.String("data"), len(classes))
	}
	var val data.Dataset
	if v := c.String("val-data"); v != "" {
		vs := split
		if vs == "" {
			vs = "val"
		}
		if val, err = data.Open(v, c.String("format"), data.Options{Ignore: int32(c.Int("ignore")), NumClasses: len(classes), ClassNames: names, Split: vs}); err != nil {
			return err
		}
	}

	// Backbone.
	if err := initRuntime(c); err != nil {
		return err
	}
	bbPath := c.String("backbone")
	sha, err := onnx.Sha256(bbPath)
	if err != nil {
		return err
	}
	bb, err := onnx.OpenBackbone(bbPath, backboneOptions(c, c.String("feature")))
	if err != nil {
		return err
	}
	defer bb.Close()
	feats := bb

	// Probe the feature shape on the first sample.
	first, err := ds.Load(0)
	if err != nil {
		return err
	}
	probe, err := trainFeatureProbe(feats, pre, first, crop)
	if err != nil {
		return fmt.Errorf("--backbone %s: %w", bbPath, err)
	}

	iters := c.Int("iters")
	if e := c.Int("epochs"); e > 0 {
		iters = (e*ds.Len() + c.Int("batch") - 1) / c.Int("batch")
	}
	if iters <= 0 {
		return errors.New("--iters or --epochs is required (a positive number)")
	}
	cfg := &train.Config{
		Tool: "lmpseg " + Version, Backbone: absPath(bbPath), BackboneSHA256: sha, Feature: bb.Feature(),
		FeatureShape: probe, Preprocess: pre, Data: absPath(c.String("data")), ValData: absPath(c.String("val-data")),
		Format: c.String("format"), Classes: classes, Ignore: int32(c.Int("ignore")),
		Head: graph.HeadSpec{Kind: headKind, InChannels: int(probe[1]), Classes: len(classes), Dropout: 0.1},
		Loss: lc, LR: c.Float64("lr"), Warmup: c.Int("warmup"), Iters: iters, Batch: c.Int("batch"),
		Crop: crop, Scale: scale, Flip: flip, Seed: c.Int64("seed"), ValEvery: c.Int("val-every"),
		CkptEvery: c.Int("ckpt-every"), CacheFeatures: c.Bool("cache-features"),
		Optim: train.OptimConfig{Name: c.String("optimizer"), Momentum: c.Float64("momentum"), Nesterov: c.Bool("nesterov"),
			WeightDecay: c.Float64("weight-decay"), ClipNorm: c.Float64("clip")},
	}
	if headKind == "fcn" {
		cfg.Head.Hidden = c.Int("hidden")
	} else {
		cfg.Head.Dropout = 0
	}
	if cfg.CacheFeatures {
		cfg.CacheDir = c.String("cache-dir")
		if cfg.CacheDir == "" {
			cfg.CacheDir = defaultCacheDir()
		}
	}
	start, err := prepareRunFolder(out, cfg, c.Bool("resume"), c.Bool("force"))
	if err != nil {
		return err
	}
	return trainRun(c.App.Writer, out, cfg, start, ds, val, feats, c.Bool("quiet"))
}

func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func trainFeatureProbe(f onnx.Features, pre data.Preprocess, s *data.Sample, crop [2]int) ([]int64, error) {
	h, w := s.H, s.W
	if crop[0] > 0 {
		h, w = crop[0], crop[1]
	}
	x := make([]float32, 3*h*w)
	sub := &data.Sample{Name: s.Name, H: h, W: w, Image: make([]float32, 3*h*w)}
	pre.Apply(x, sub)
	_, shape, err := f.Run(x, 1, h, w)
	if err != nil {
		return nil, fmt.Errorf("backbone on a %dx%d input: %w", h, w, err)
	}
	if len(shape) != 4 {
		return nil, fmt.Errorf("feature tensor has shape %v; a head needs a rank-4 NCHW float tensor (pick one with --feature; 'lmpseg inspect --probe %dx%d MODEL' lists them)", shape, h, w)
	}
	return shape, nil
}

// prepareRunFolder creates or checks the run folder and returns the iteration to start from.
func prepareRunFolder(out string, cfg *train.Config, resume, force bool) (int, error) {
	if st, err := os.Stat(out); err == nil && !st.IsDir() {
		return 0, fmt.Errorf("--out %s is a file, not a run folder; give a folder path", out)
	}
	old, err := train.LoadConfig(out)
	exists := err == nil
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(out, train.ConfigFile)); !errors.Is(statErr, fs.ErrNotExist) {
			if !force {
				return 0, fmt.Errorf("%w; pass --force to start over", err)
			}
			exists = false
		}
	}
	// Temporary files of writes cut short by a kill are garbage: the renamed files are whole.
	if tmps, _ := filepath.Glob(filepath.Join(out, ".*.tmp-*")); len(tmps) > 0 {
		for _, t := range tmps {
			os.Remove(t)
		}
	}
	switch {
	case exists && resume:
		if why := train.Compatible(old, cfg); why != nil {
			return 0, fmt.Errorf("cannot resume %s: %v; use a new --out or --force", out, why)
		}
		ck, err := train.LoadCheckpoint(filepath.Join(out, train.LastCkpt))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return 0, train.SaveConfig(out, cfg) // killed before the first checkpoint: start again
			}
			return 0, fmt.Errorf("cannot resume %s: %w", out, err)
		}
		return ck.Iter, train.SaveConfig(out, cfg)
	case exists && !force:
		return 0, fmt.Errorf("%s already holds a run (backbone %s, loss %s); pass --resume to continue it or --force to overwrite it", out, filepath.Base(old.Backbone), old.Loss.Name)
	case !exists && resume:
		return 0, fmt.Errorf("--resume: %s holds no run to resume (no %s); drop --resume to start one", out, train.ConfigFile)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, err
	}
	for _, f := range []string{train.LastCkpt, train.BestCkpt, train.MetricsFile, train.CSVFile} {
		os.Remove(filepath.Join(out, f))
	}
	return 0, train.SaveConfig(out, cfg)
}

// buildLoss makes the configured loss; wce needs the label histogram of the training set.
func buildLoss(lc train.LossConfig, ds data.Dataset) (lmp.Loss, error) {
	o := lc.Options
	if lc.Name == "wce" {
		hist, err := data.LabelHistogram(ds, len(ds.Classes()))
		if err != nil {
			return nil, err
		}
		if o.ClassWeights, err = lmp.ClassWeights(hist, lc.ClassWeight); err != nil {
			return nil, err
		}
	}
	return lmp.New(lc.Name, o)
}

// trainRun trains cfg into the run folder run from iteration start; the demo calls it too.
func trainRun(w io.Writer, run string, cfg *train.Config, start int, ds, val data.Dataset, feats onnx.Features, quiet bool) error {
	loss, err := buildLoss(cfg.Loss, ds)
	if err != nil {
		return err
	}
	head, err := graph.NewHead(cfg.Head, cfg.Seed)
	if err != nil {
		return err
	}
	opt, err := train.NewOptimizer(cfg.Optim)
	if err != nil {
		return err
	}
	best, bestIter := -1.0, 0
	if start > 0 {
		ck, err := train.LoadCheckpoint(filepath.Join(run, train.LastCkpt))
		if err != nil {
			return err
		}
		if err := head.UnmarshalBinary(ck.Head); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(run, train.LastCkpt), err)
		}
		if err := opt.UnmarshalBinary(ck.Optim); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(run, train.LastCkpt), err)
		}
		best, bestIter = ck.BestMIoU, ck.BestIter
	}
	var src train.Source
	var valFeat featureFunc
	if cfg.CacheFeatures {
		cache, err := train.OpenFeatureCache(cfg.CacheDir, train.CacheKey(cfg.BackboneSHA256, cfg.Feature, cfg.Preprocess))
		if err != nil {
			return err
		}
		src = &train.CachedSource{DS: ds, Backbone: feats, Pre: cfg.Preprocess, Cache: cache, Split: "train-" + shortHash(cfg.Data), BatchSize: cfg.Batch, Seed: cfg.Seed}
		if val != nil {
			vs := &train.CachedSource{DS: val, Backbone: feats, Pre: cfg.Preprocess, Cache: cache, Split: "val-" + shortHash(cfg.ValData), BatchSize: 1}
			valFeat = vs.Sample
		}
	} else {
		src = &train.ImageSource{DS: ds, Backbone: feats, Pre: cfg.Preprocess, BatchSize: cfg.Batch, Seed: cfg.Seed,
			Transform: augmenter(cfg)}
		if val != nil {
			valFeat = directFeatures(val, feats, cfg.Preprocess)
		}
	}
	logs, err := train.OpenLogs(run, start)
	if err != nil {
		return err
	}
	defer logs.Close()

	ctx, which, stop := signalContext()
	defer stop()
	prog := newProgress(w, cfg.Iters, start, quiet)
	t0 := time.Now()
	loop := &train.Loop{
		Stepper: &train.Stepper{Head: head, Opt: opt, Loss: loss, Clip: cfg.Optim.ClipNorm, Ignore: cfg.Ignore, Seed: cfg.Seed, Sched: train.Schedule{Base: cfg.LR, Total: cfg.Iters, Warmup: cfg.Warmup}},
		Source:  src, Run: run, Start: start, Iters: cfg.Iters, ValEvery: cfg.ValEvery, CkptEvery: cfg.CkptEvery,
		BestMIoU: best, BestIter: bestIter,
		Hooks: train.Hooks{
			Step: func(it int, st train.StepStats) {
				if err := logs.Step(it, st, time.Since(t0).Seconds()); err != nil {
					prog.Note("warning: %v", err)
				}
				prog.Step(it+1, st.Loss, st.LR)
			},
			Checkpoint: func(it int, path string) {},
		},
	}
	if valFeat != nil {
		loop.Hooks.Eval = func(ctx context.Context, it int) (float64, error) {
			rep, _, err := validate(ctx, head, val, valFeat, cfg.Ignore)
			if err != nil {
				return -1, err
			}
			logs.Eval(it, rep.MIoU, rep.AAcc)
			prog.Note("iter %d: val mIoU %.2f%%, aAcc %.2f%%", it, 100*rep.MIoU, 100*rep.AAcc)
			return rep.MIoU, nil
		}
	}
	if start > 0 {
		prog.Note("resuming %s at iteration %d of %d", run, start, cfg.Iters)
	}
	err = loop.Do(ctx)
	prog.Finish()
	if errors.Is(err, train.ErrInterrupted) {
		code := 130
		if which() == syscall.SIGTERM {
			code = 143
		}
		return &exitError{code: code, err: fmt.Errorf("interrupted at iteration %d; checkpoint written; continue with: lmpseg train --resume --out %s (and the same flags)", loopIter(run), run)}
	}
	if err != nil {
		var ne *train.NumericError
		if errors.As(err, &ne) {
			return fmt.Errorf("%w; the last good checkpoint is %s", err, filepath.Join(run, train.LastCkpt))
		}
		return err
	}
	fmt.Fprintf(w, "trained %d iterations in %s; run folder %s", cfg.Iters-start, time.Since(t0).Round(time.Second), run)
	if loop.BestMIoU >= 0 {
		fmt.Fprintf(w, "; best val mIoU %.2f%% at iteration %d", 100*loop.BestMIoU, loop.BestIter)
	}
	fmt.Fprintln(w)
	return nil
}

func loopIter(run string) int {
	ck, err := train.LoadCheckpoint(filepath.Join(run, train.LastCkpt))
	if err != nil {
		return 0
	}
	return ck.Iter
}

// augmenter returns the training transform for cfg (nil when there is nothing to do).
func augmenter(cfg *train.Config) train.Transform {
	if cfg.Scale == [2]float64{1, 1} && cfg.Crop == [2]int{} && !cfg.Flip {
		return nil
	}
	aug := data.Augment{ScaleMin: cfg.Scale[0], ScaleMax: cfg.Scale[1], CropH: cfg.Crop[0], CropW: cfg.Crop[1], Flip: cfg.Flip, Ignore: cfg.Ignore}
	// Pad with the mean so that padded pixels are 0 after normalisation.
	for i, m := range cfg.Preprocess.Mean {
		if cfg.Preprocess.Range == "0-1" {
			m *= 255
		}
		aug.Pad[i] = m
	}
	if cfg.Preprocess.Channels == "BGR" {
		aug.Pad[0], aug.Pad[2] = aug.Pad[2], aug.Pad[0]
	}
	return func(s *data.Sample, rng *rand.Rand) (*data.Sample, error) {
		return s, aug.Apply(s, rng)
	}
}

// shortHash names a dataset folder inside the feature cache.
func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}
