package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/train"
)

// flagGroups joins groups of flags in order into one command's flags.
func flagGroups(groups ...[]cli.Flag) []cli.Flag { return slices.Concat(groups...) }

// backboneFlags are the flags train and extract list first: the backbone, the tensor taken from
// it, the validation data and the classes. feature and valData are the usage lines of --feature
// and --val-data, which say what each command does with them.
func backboneFlags(feature, valData string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "backbone", Usage: "pretrained model (ONNX)"},
		&cli.StringFlag{Name: "feature", Usage: feature},
		&cli.StringFlag{Name: "val-data", Usage: valData},
		&cli.IntFlag{Name: "classes", Usage: "number of classes (default: from classes.txt or the format)"},
		&cli.StringFlag{Name: "class-names", Usage: "comma-separated class names"},
	}
}

// Flags that several commands list, each where its command's help shows it.
var (
	quietFlag    = &cli.BoolFlag{Name: "quiet", Usage: "no progress output"}
	cacheDirFlag = &cli.StringFlag{Name: "cache-dir", Usage: "feature cache folder (default: $XDG_CACHE_HOME/lmpseg/features)"}
	strictFlag   = &cli.BoolFlag{Name: "strict", Usage: "stop at an image that fails to decode (default: name it and go on)"}
	shardsFlag   = &cli.IntFlag{Name: "shards", Usage: "N for the shard index read from JOB_COMPLETION_INDEX (Kubernetes Indexed Job)"}
)

// shardFlag is --shard i/N for a command that does verb to images i, i+N, i+2N, ...
func shardFlag(verb string) cli.Flag {
	return &cli.StringFlag{Name: "shard", Usage: "i/N: " + verb + " images i, i+N, i+2N, ..."}
}

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

// liftFlags train the backbone's own decoder instead of a new head (trainrecipe.go: recipeLift).
var liftFlags = []cli.Flag{
	&cli.StringFlag{Name: "trainable-from", Usage: "train the backbone's own decoder instead of a new head: the part of its graph from this tensor to its output, lifted into Go with the model's weights (docs/models.md)"},
	&cli.BoolFlag{Name: "freeze-bn", Usage: "--trainable-from: keep the decoder's batch norms in inference mode (running statistics; the usual choice for small batches)"},
	&cli.BoolFlag{Name: "reset-classifier", Usage: "--trainable-from: replace the classifier by a new one even when --classes is the model's"},
	&cli.Float64Flag{Name: "lr-lifted", Value: 0.1, Usage: "--trainable-from: learning rate of the model's pretrained decoder weights, as a multiple of --lr (a new classifier trains at --lr)"},
}

var trainCommand = &cli.Command{
	Name:      "train",
	Usage:     "train a segmentation head on a frozen ONNX backbone",
	ArgsUsage: " ",
	Description: "Runs the backbone (onnxruntime) on the training images, trains a head in Go on the chosen\n" +
		"feature tensor with the chosen pixel loss (Loss Max-Pooling by default), validates on --val-data,\n" +
		"and keeps everything needed to rebuild, resume and export the model in the run folder --out.\n" +
		"SIGINT/SIGTERM finish the current step, write a checkpoint and exit 130/143; --resume continues.",
	Flags: flagGroups(backboneFlags(
		"tensor to train the head on (default: the model's first output)",
		"validation dataset folder (same format)"), []cli.Flag{
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
		&cli.StringFlag{Name: "crop", Usage: "random crop HxW (default, when --scale varies the size and --batch > 1 or the model's input size is fixed: that size, else a square of the first image's short side, at most 512, a multiple of 32; otherwise whole images)"},
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
		&cli.StringFlag{Name: "sampler", Value: "uniform", Usage: "training image sampling: uniform (seeded epochs), class-uniform or performance (docs/sampling.md)"},
		&cli.Float64Flag{Name: "sampler-mix", Value: 0.5, Usage: "class-uniform, performance: probability that a batch slot draws a class first, then an image holding it"},
		&cli.IntFlag{Name: "val-every", Value: 0, Usage: "validate every K iterations (0: only at the end)"},
		&cli.IntFlag{Name: "ckpt-every", Value: 50, Usage: "write a checkpoint every K iterations"},
		&cli.BoolFlag{Name: "cache-features", Usage: "extract features once to disk (float16) and reuse them; disables augmentation"},
		cacheDirFlag,
		&cli.BoolFlag{Name: "resume", Usage: "continue the run in --out from its last checkpoint (its config.json is the recipe; flags given override it)"},
		&cli.StringFlag{Name: "config", Usage: "a run's config.json to train again (flags given override it)"},
		&cli.BoolFlag{Name: "force", Usage: "overwrite a different run in --out"},
		quietFlag,
	}, liftFlags, dataFlags, preprocessFlags, runtimeFlags),
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

// recipe builds the training recipe from the flags. With --resume the run's config.json, and with
// --config the given one, is the base and only flags given explicitly override it.
func recipe(c *cli.Context) (*train.Config, error) {
	base, err := recipeBase(c)
	if err != nil {
		return nil, err
	}
	rc := &train.Config{Tool: "lmpseg " + Version}
	if base != nil {
		*rc = *base
	}
	set := func(name string) bool { return base == nil || c.IsSet(name) }
	recipeFields(c, rc, set)
	if err := recipeLoss(c, rc, set); err != nil {
		return nil, err
	}
	if err := recipeSampler(c, rc, set); err != nil {
		return nil, err
	}
	if c.IsSet("class-names") {
		rc.Classes = strings.Split(c.String("class-names"), ",")
	} else if c.IsSet("classes") && len(rc.Classes) != c.Int("classes") {
		rc.Classes = nil
	}
	if set("hidden") || set("head") {
		rc.Head.Hidden, rc.Head.Dropout = 0, 0
		if rc.Head.Kind == "fcn" {
			rc.Head.Hidden, rc.Head.Dropout = c.Int("hidden"), 0.1
		}
	}
	if err := recipeLift(c, rc, set); err != nil {
		return nil, err
	}
	if err := recipeSchedule(c, rc, base == nil); err != nil {
		return nil, err
	}
	basePre := rc.Preprocess
	if base == nil {
		basePre = data.ImageNet
	}
	rc.Preprocess, err = preprocessFrom(c, basePre)
	return rc, err
}

// recipeFields sets the recipe's plain fields from the flags that set gives.
func recipeFields(c *cli.Context, rc *train.Config, set func(string) bool) {
	for name, dst := range map[string]*string{"backbone": &rc.Backbone, "feature": &rc.Feature, "data": &rc.Data,
		"val-data": &rc.ValData, "format": &rc.Format, "split": &rc.Split, "head": &rc.Head.Kind, "optimizer": &rc.Optim.Name,
		"cache-dir": &rc.CacheDir} {
		if set(name) {
			*dst = c.String(name)
		}
	}
	for name, dst := range map[string]*float64{"lr": &rc.LR, "momentum": &rc.Optim.Momentum, "weight-decay": &rc.Optim.WeightDecay, "clip": &rc.Optim.ClipNorm} {
		if set(name) {
			*dst = c.Float64(name)
		}
	}
	for name, dst := range map[string]*int{"batch": &rc.Batch, "warmup": &rc.Warmup, "val-every": &rc.ValEvery, "ckpt-every": &rc.CkptEvery} {
		if set(name) {
			*dst = c.Int(name)
		}
	}
	for name, dst := range map[string]*bool{"flip": &rc.Flip, "nesterov": &rc.Optim.Nesterov, "cache-features": &rc.CacheFeatures} {
		if set(name) {
			*dst = c.Bool(name)
		}
	}
	if set("ignore") {
		rc.Ignore = int32(c.Int("ignore"))
	}
	if set("seed") {
		rc.Seed = c.Int64("seed")
	}
	if c.IsSet("split") {
		rc.ValSplit = rc.Split
	}
}

// recipeLoss sets the loss and its options. A loss other than the base recipe's takes every loss
// flag, given or not.
func recipeLoss(c *cli.Context, rc *train.Config, set func(string) bool) error {
	newLoss := false
	if name := c.String("loss"); set("loss") && name != rc.Loss.Name {
		rc.Loss, newLoss = train.LossConfig{Name: name}, true
	}
	lossSet := func(name string) bool { return newLoss || set(name) }
	lo := &rc.Loss.Options
	for name, dst := range map[string]*float64{"lmp-p": &lo.P, "lmp-ratio": &lo.Ratio, "focal-gamma": &lo.Gamma, "ohem-thresh": &lo.Thresh, "topk": &lo.TopK} {
		if lossSet(name) {
			*dst = c.Float64(name)
		}
	}
	if lossSet("ohem-min-kept") {
		lo.MinKept = c.Int("ohem-min-kept")
	}
	if lossSet("lmp-per-batch") {
		lo.PerBatch = c.Bool("lmp-per-batch")
	}
	if lossSet("class-weighting") {
		rc.Loss.ClassWeight = c.String("class-weighting")
	}
	if rc.Loss.Name != "wce" {
		rc.Loss.ClassWeight = ""
	}
	if v := c.Float64("topk"); c.IsSet("topk") && !(v > 0 && v <= 1) {
		return fmt.Errorf("--topk %v: want the fraction of hardest pixels, in (0, 1]", v)
	}
	return nil
}

// recipeSampler sets the training image sampler and its mix.
func recipeSampler(c *cli.Context, rc *train.Config, set func(string) bool) error {
	if set("sampler") {
		rc.Sampler = c.String("sampler")
	}
	if rc.Sampler == train.SamplerUniform {
		rc.Sampler = "" // uniform is no key in config.json, as before samplers existed
	}
	if set("sampler-mix") || rc.Sampler != "" && rc.SamplerMix == 0 {
		rc.SamplerMix = c.Float64("sampler-mix")
	}
	if rc.Sampler == "" {
		rc.SamplerMix = 0
	}
	return train.CheckSampler(rc.Sampler, rc.SamplerMix)
}

// recipeBase is the recipe that flags override: --config, or the run folder's with --resume.
func recipeBase(c *cli.Context) (*train.Config, error) {
	if p := c.String("config"); p != "" {
		return train.ReadConfig(p)
	}
	if out := c.String("out"); c.Bool("resume") && out != "" {
		if _, err := os.Stat(filepath.Join(out, train.ConfigFile)); err == nil {
			return train.LoadConfig(out)
		} // no run there: train.Run says so
	}
	return nil, nil
}

// recipeSchedule sets the length of training and the augmentation from the flags.
func recipeSchedule(c *cli.Context, rc *train.Config, fresh bool) error {
	if c.IsSet("iters") && c.IsSet("epochs") {
		return errors.New("give --iters or --epochs, not both")
	}
	if fresh && rc.Lift != nil && !c.IsSet("iters") && !c.IsSet("epochs") {
		return errors.New("--trainable-from: give --iters N or --epochs N (--iters 0 keeps the model's decoder as it is, for export)")
	}
	if c.IsSet("epochs") {
		rc.Iters, rc.Epochs = 0, c.Int("epochs")
	} else if c.IsSet("iters") || fresh {
		rc.Iters, rc.Epochs = c.Int("iters"), 0
	}
	if fresh || c.IsSet("crop") {
		rc.Crop = [2]int{}
		if s := c.String("crop"); s != "" {
			var err error
			if rc.Crop[0], rc.Crop[1], err = parseHW("crop", s); err != nil {
				return err
			}
		}
	}
	if fresh || c.IsSet("scale") {
		if _, err := fmt.Sscanf(c.String("scale"), "%g,%g", &rc.Scale[0], &rc.Scale[1]); err != nil {
			return fmt.Errorf("--scale %q: want min,max with 0 < min <= max, e.g. 0.5,2.0", c.String("scale"))
		}
	}
	if rc.CacheFeatures && fresh {
		// The cache keeps one map per image: no augmentation unless asked for (then refused).
		if !c.IsSet("scale") {
			rc.Scale = [2]float64{1, 1}
		}
		if !c.IsSet("flip") {
			rc.Flip = false
		}
	}
	return nil
}

func runTrain(c *cli.Context) error {
	rc, err := recipe(c)
	if err != nil {
		return err
	}
	if err := fileMustExist("backbone", rc.Backbone); err != nil {
		return err
	}
	switch {
	case rc.Data == "":
		return errors.New("--data is required: the training dataset folder")
	case c.String("out") == "":
		return errors.New("--out is required: the run folder to write")
	}
	if err := initRuntime(c); err != nil {
		return err
	}
	ctx, which, stop := signalContext()
	defer stop()
	out := c.String("out")
	prog := &recipeProgress{Progress: &trainProgress{w: c.App.Writer, quiet: c.Bool("quiet")}, w: c.App.Writer, rc: rc, out: out,
		cropDefault: rc.Crop == [2]int{}, quiet: c.Bool("quiet")}
	sum, err := train.Run(ctx, out, rc, train.Options{Resume: c.Bool("resume"), Force: c.Bool("force"), NumClasses: c.Int("classes"),
		Device: c.String("device"), Threads: c.Int("threads"), Progress: prog})
	return trainDone(c, out, sum, err, which)
}

// trainDone prints the outcome of a training job, or turns its error into the exit status.
func trainDone(c *cli.Context, out string, sum *train.Summary, err error, which func() os.Signal) error {
	if errors.Is(err, train.ErrInterrupted) {
		code := 130
		if which() == syscall.SIGTERM {
			code = 143
		}
		return &exitError{code: code, err: fmt.Errorf("interrupted at iteration %d; checkpoint written; continue with: lmpseg train --resume --out %s", train.CheckpointIter(out), out)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "trained %d iterations in %s; run folder %s", sum.Iters-sum.Start, time.Duration(sum.Seconds*float64(time.Second)).Round(time.Second), out)
	if sum.BestMIoU >= 0 {
		fmt.Fprintf(c.App.Writer, "; best val mIoU %.2f%% at iteration %d", 100*sum.BestMIoU, sum.BestIter)
	}
	fmt.Fprintln(c.App.Writer)
	return nil
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
