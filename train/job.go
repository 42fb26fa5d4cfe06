package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/lmp"
	"github.com/lmpseg/lmpseg/metrics"
	"github.com/lmpseg/lmpseg/onnx"
)

// Options are the parts of a training job that are not its recipe: how it runs, not what it
// computes. Nothing here changes the numbers except Threads (bit-identical runs need 1).
type Options struct {
	Resume bool // continue the run in the folder from its last checkpoint
	Force  bool // overwrite a different run in the folder
	// NumClasses, when the recipe names no classes, is the class count passed to the dataset.
	NumClasses int
	Device     string // onnxruntime execution provider (onnx.Options.Device)
	Threads    int    // onnxruntime intra-op threads and Go kernel threads; 0: all cores
	Progress   Progress
}

// Progress receives what a training job has to say; the CLI draws it as a progress bar.
type Progress interface {
	Start(total, start int)
	Step(done int, st StepStats)
	Note(format string, args ...any)
	Finish()
}

type silent struct{}

func (silent) Start(int, int)      {}
func (silent) Step(int, StepStats) {}
func (silent) Note(string, ...any) {}
func (silent) Finish()             {}

// Summary says what a finished job did.
type Summary struct {
	Start, Iters int // iterations done before this job, and in all
	BestMIoU     float64
	BestIter     int
	Seconds      float64
}

// Validate reports the first recipe value that cannot work, naming it as the CLI flag that sets it.
func (c *Config) Validate() error {
	for _, f := range []struct {
		name, want string
		v          float64
		ok         bool
	}{
		{"lr", "a positive number", c.LR, c.LR > 0 && !math.IsInf(c.LR, 0)},
		{"momentum", "a number in [0, 1)", c.Optim.Momentum, c.Optim.Momentum >= 0 && c.Optim.Momentum < 1},
		{"weight-decay", "a number >= 0", c.Optim.WeightDecay, c.Optim.WeightDecay >= 0 && !math.IsInf(c.Optim.WeightDecay, 0)},
		{"clip", "a number >= 0 (0: off)", c.Optim.ClipNorm, c.Optim.ClipNorm >= 0 && !math.IsInf(c.Optim.ClipNorm, 0)},
		{"warmup", "an iteration count >= 0", float64(c.Warmup), c.Warmup >= 0},
		{"ckpt-every", "an iteration count >= 1", float64(c.CkptEvery), c.CkptEvery >= 1},
		{"val-every", "an iteration count >= 0 (0: only at the end)", float64(c.ValEvery), c.ValEvery >= 0},
		{"batch", "at least 1", float64(c.Batch), c.Batch >= 1},
		{"iters", "a positive number (or give --epochs)", float64(c.Iters), c.Iters > 0 || c.Epochs > 0 || c.Lift != nil && c.Iters == 0},
		{"epochs", "a number >= 0", float64(c.Epochs), c.Epochs >= 0},
	} {
		if !f.ok {
			return fmt.Errorf("train: --%s %v: want %s", f.name, f.v, f.want)
		}
	}
	if _, err := NewOptimizer(c.Optim); err != nil {
		return err
	}
	if c.Crop[0] < 0 || c.Crop[1] < 0 || (c.Crop[0] == 0) != (c.Crop[1] == 0) {
		return fmt.Errorf("train: --crop %dx%d: want HxW with positive integers", c.Crop[0], c.Crop[1])
	}
	if !(c.Scale[0] > 0) || !(c.Scale[1] >= c.Scale[0]) || math.IsInf(c.Scale[1], 0) {
		return fmt.Errorf("train: --scale %g,%g: want min,max with 0 < min <= max, e.g. 0.5,2.0", c.Scale[0], c.Scale[1])
	}
	if err := c.Preprocess.Validate(); err != nil {
		return fmt.Errorf("train: --mean/--std/--range/--channels: %w", err)
	}
	if c.CacheFeatures && (c.Scale != [2]float64{1, 1} || c.Flip || c.Crop != [2]int{}) {
		return errors.New("train: --cache-features stores one feature map per image, so it cannot be combined with --crop, --scale or --flip; drop those flags or the cache")
	}
	// No crop with a random scale and a batch > 1 is not refused: resolve sets DefaultCrop.
	if err := c.Loss.check(); err != nil {
		return err
	}
	if err := CheckSampler(c.Sampler, c.SamplerMix); err != nil {
		return err
	}
	// resolve sets the input channels and classes from the backbone and the data; small stand-ins
	// check the rest of the spec without allocating a head of a recipe's (up to 1<<16 square) size.
	if c.Lift != nil {
		return c.Lift.check()
	}
	probe := c.Head
	probe.InChannels, probe.Classes = 1, 2
	if _, err := graph.NewHead(probe, 0); err != nil {
		return fmt.Errorf("train: --head: %w", err)
	}
	return nil
}

// check validates the loss options without a dataset (wce's class weights come later).
func (l LossConfig) check() error {
	o := l.Options
	if l.Name == "wce" {
		if l.ClassWeight != "inverse" && l.ClassWeight != "median" {
			return fmt.Errorf("train: --class-weighting %q: want inverse or median", l.ClassWeight)
		}
		o.ClassWeights = []float32{1}
	}
	_, err := lmp.New(l.Name, o)
	return err
}

// Run trains the recipe rc into the run folder dir, or with o.Resume continues the run there. It
// opens the datasets and the backbone that rc names, fills in what the recipe leaves to the data
// (classes, the head's input channels, iterations from epochs, the backbone's sha256), writes
// config.json, and runs the loop with checkpoints, logs and validation as hooks. rc is updated in
// place to what was written. With Threads 1 the run is a function of the recipe alone.
func Run(ctx context.Context, dir string, rc *Config, o Options) (*Summary, error) {
	if o.Progress == nil {
		o.Progress = silent{}
	}
	if err := rc.Validate(); err != nil {
		return nil, err
	}
	// The recipe names its files absolutely, so that it runs again from any folder.
	if err := absPaths(&rc.Backbone, &rc.Data, &rc.ValData); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	ds, val, err := openData(rc, o)
	if err != nil {
		return nil, err
	}
	sha, err := onnx.Sha256(rc.Backbone)
	if err != nil {
		return nil, fmt.Errorf("train: --backbone: %w", err)
	}
	var liftModel *onnx.Model // the backbone model a lifted decoder comes from, loaded once
	if rc.Lift != nil {
		if liftModel, err = onnx.Load(rc.Backbone); err != nil {
			return nil, fmt.Errorf("train: --trainable-from: %w", err)
		}
		if err := prepareLift(rc, liftModel); err != nil {
			return nil, err
		}
	}
	if !rc.CacheFeatures {
		// (With the cache, the features were checked when they were extracted or are refused
		// when they do not fit the head.)
		if err := checkFeature(rc, o); err != nil {
			return nil, err
		}
		if rc.Lift != nil && rc.FeatureLayout != "" {
			return nil, fmt.Errorf("train: --trainable-from %s: the tensor is channels-last (%s); the decoder is lifted from an NCHW tensor", rc.Lift.From, rc.FeatureLayout)
		}
	}
	bb, err := openJobBackbone(ctx, rc, sha, ds, val, o) // extract_run.go: no session on a complete feature cache
	if err != nil {
		return nil, err
	}
	defer bb.Close()
	if err := resolve(rc, sha, bb, ds); err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("train: --out %s is a file, not a run folder; give a folder path", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: --out: %w", err)
	}
	release, err := Lock(dir)
	if err != nil {
		return nil, err
	}
	defer release()
	start, err := prepareRunFolder(dir, rc, o.Resume, o.Force)
	if err != nil {
		return nil, err
	}
	return fit(ctx, dir, rc, start, ds, val, bb, liftModel, o)
}

// openData opens the training and validation datasets of rc and fills rc.Classes.
func openData(rc *Config, o Options) (ds, val data.Dataset, err error) {
	do := data.Options{Ignore: rc.Ignore, NumClasses: o.NumClasses, ClassNames: rc.Classes, Split: rc.Split}
	if ds, err = data.Open(rc.Data, rc.Format, do); err != nil {
		return nil, nil, err
	}
	rc.Classes = ds.Classes()
	if len(rc.Classes) < 2 {
		return nil, nil, fmt.Errorf("train: %s: %d classes; give --classes N or --class-names, or add classes.txt", rc.Data, len(rc.Classes))
	}
	if rc.ValData != "" {
		do.Split, do.NumClasses, do.ClassNames = rc.ValSplit, len(rc.Classes), nil
		if do.Split == "" {
			do.Split = "val"
		}
		if val, err = data.Open(rc.ValData, rc.Format, do); err != nil {
			return nil, nil, err
		}
		if err := data.CheckNamedClasses(rc.Classes, val.Classes(), rc.Data, rc.ValData); err != nil {
			return nil, nil, fmt.Errorf("train: %w", err)
		}
	}
	return ds, val, nil
}

// resolve fills the recipe's derived fields from the backbone and the data.
func resolve(rc *Config, sha string, bb *jobBackbone, ds data.Dataset) error {
	rc.BackboneSHA256, rc.Feature = sha, bb.Feature()
	first, err := ds.Load(0)
	if err != nil {
		return err
	}
	h, w := first.H, first.W
	if !rc.CacheFeatures && rc.Crop == [2]int{} {
		sess, err := bb.session()
		if err != nil {
			return err
		}
		in := sess.Session().InputLayout()
		if needsDefaultCrop(rc, in.StaticH, in.StaticW, h, w) {
			rc.Crop = DefaultCrop(in.StaticH, in.StaticW, h, w)
		}
	}
	if rc.Preprocess == data.ImageNet && bb.inputType() == "uint8" {
		// A uint8 model takes 0..255 pixels and normalises inside its graph.
		rc.Preprocess = data.Raw
	}
	if rc.Crop[0] > 0 {
		h, w = rc.Crop[0], rc.Crop[1]
	}
	x := make([]float32, 3*h*w)
	rc.Preprocess.Apply(x, &data.Sample{Name: first.Name, H: h, W: w, Image: make([]float32, 3*h*w)})
	shape, err := bb.probe(x, h, w)
	if err != nil {
		if hw := staticInput(bb); hw[0] > 0 && (hw[0] != h || hw[1] != w) {
			return fmt.Errorf("train: --backbone %s takes a fixed input of %dx%d, not %dx%d: give --crop %dx%d, or drop --crop for that default", rc.Backbone, hw[0], hw[1], h, w, hw[0], hw[1])
		}
		return fmt.Errorf("train: --backbone %s on a %dx%d input: %w", rc.Backbone, h, w, err)
	}
	if len(shape) != 4 {
		return fmt.Errorf("train: --backbone %s: feature tensor has shape %v; a head needs a rank-4 NCHW float tensor (pick one with --feature; 'lmpseg inspect --probe %dx%d MODEL' lists them)", rc.Backbone, shape, h, w)
	}
	rc.FeatureShape = shape
	rc.Head.InChannels, rc.Head.Classes = int(shape[1]), len(rc.Classes)
	if rc.Lift != nil {
		// (A packed feature's "channels" are its values per image; prepareLift checked the batch.)
		rc.Head = graph.HeadSpec{Kind: LiftedKind, InChannels: rc.Head.InChannels, Classes: rc.Head.Classes, Dropout: rc.Head.Dropout}
	} else if err := rc.Head.CheckTrainShape(rc.Batch, int(shape[2]), int(shape[3])); err != nil {
		return fmt.Errorf("train: --batch %d, --crop %dx%d: %w", rc.Batch, h, w, err)
	}
	if rc.Epochs > 0 {
		rc.Iters = (rc.Epochs*ds.Len() + rc.Batch - 1) / rc.Batch
	}
	if rc.CacheFeatures && rc.CacheDir == "" {
		rc.CacheDir = DefaultCacheDir()
	}
	return nil
}

// absPaths makes each non-empty path absolute, in place.
func absPaths(ps ...*string) error {
	for _, p := range ps {
		if *p == "" {
			continue
		}
		a, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = a
	}
	return nil
}

// CheckpointIter returns the iteration of the run's last checkpoint, 0 when it has none.
func CheckpointIter(run string) int {
	ck, err := LoadCheckpoint(filepath.Join(run, LastCkpt))
	if err != nil {
		return 0
	}
	return ck.Iter
}

// DefaultCacheDir is the feature cache folder when the recipe names none.
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "lmpseg", "features")
	}
	return filepath.Join(os.TempDir(), "lmpseg-features")
}

// prepareRunFolder creates or checks the run folder and returns the iteration to start from.
func prepareRunFolder(out string, cfg *Config, resume, force bool) (int, error) {
	old, err := LoadConfig(out)
	exists := err == nil
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(out, ConfigFile)); !errors.Is(statErr, fs.ErrNotExist) {
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
		if why := Compatible(old, cfg); why != nil {
			return 0, fmt.Errorf("train: cannot resume %s: %v; use a new --out or --force", out, why)
		}
		ck, err := LoadCheckpoint(filepath.Join(out, LastCkpt))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// Killed before the first checkpoint (or copied without it): start again from
				// iteration 0, dropping a best.ckpt that no longer belongs to the run's logs.
				os.Remove(filepath.Join(out, BestCkpt))
				return 0, SaveConfig(out, cfg)
			}
			return 0, fmt.Errorf("train: cannot resume %s: %w", out, err)
		}
		if ck.Iter > cfg.Iters {
			return 0, fmt.Errorf("train: cannot resume %s: it has done %d iterations, more than --iters %d; give --iters %d or more", out, ck.Iter, cfg.Iters, ck.Iter)
		}
		return ck.Iter, SaveConfig(out, cfg)
	case exists && !force:
		return 0, fmt.Errorf("train: %s already holds a run (backbone %s, loss %s); pass --resume to continue it or --force to overwrite it", out, filepath.Base(old.Backbone), old.Loss.Name)
	case !exists && resume:
		return 0, fmt.Errorf("train: --resume: %s holds no run to resume (no %s); drop --resume to start one", out, ConfigFile)
	case !exists && !force:
		for _, f := range []string{LastCkpt, BestCkpt, MetricsFile, CSVFile} {
			if _, err := os.Stat(filepath.Join(out, f)); err == nil {
				return 0, fmt.Errorf("train: %s holds %s but no %s, so it is not a run lmpseg can continue; pass --force to overwrite it or give another --out", out, f, ConfigFile)
			}
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, fmt.Errorf("train: %w", err)
	}
	for _, f := range []string{LastCkpt, BestCkpt, MetricsFile, CSVFile} {
		os.Remove(filepath.Join(out, f))
	}
	return 0, SaveConfig(out, cfg)
}

// buildLoss makes the configured loss; wce needs the label histogram of the training set.
func buildLoss(lc LossConfig, ds data.Dataset) (lmp.Loss, error) {
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

// fit trains cfg into the run folder from iteration start; liftModel, when not nil, is the backbone
// model a lifted decoder is lifted from (loaded again when nil).
func fit(ctx context.Context, run string, cfg *Config, start int, ds, val data.Dataset, feats onnx.Features, liftModel *onnx.Model, o Options) (*Summary, error) {
	prog := o.Progress
	loss, err := buildLoss(cfg.Loss, ds)
	if err != nil {
		return nil, err
	}
	head, err := newTrainable(cfg, liftModel, o.Threads)
	if err != nil {
		return nil, err
	}
	opt, err := NewOptimizer(cfg.Optim)
	if err != nil {
		return nil, err
	}
	best, bestIter := -1.0, 0
	var ckSampler []byte
	if start > 0 {
		p := filepath.Join(run, LastCkpt)
		ck, err := LoadCheckpoint(p)
		if err != nil {
			return nil, err
		}
		if err := restore(head, ck.Head); err != nil {
			return nil, fmt.Errorf("train: %s: %w", p, err)
		}
		if err := opt.UnmarshalBinary(ck.Optim); err != nil {
			return nil, fmt.Errorf("train: %s: %w", p, err)
		}
		if err := opt.CheckState(head.Params()); err != nil {
			return nil, fmt.Errorf("train: %s: %w", p, err)
		}
		best, bestIter, ckSampler = ck.BestMIoU, ck.BestIter, ck.Sampler
	}
	smp, stateful, err := runSampler(run, cfg, ds)
	if err != nil {
		return nil, err
	}
	if stateful != nil && start > 0 {
		if err := restoreSampler(stateful, ckSampler, start); err != nil {
			return nil, fmt.Errorf("train: %s: %w", filepath.Join(run, LastCkpt), err)
		}
	}
	src, valSet, err := sources(cfg, ds, val, feats, smp)
	if err != nil {
		return nil, err
	}
	logs, err := OpenLogs(run, start)
	if err != nil {
		return nil, err
	}
	defer logs.Close()

	prog.Start(cfg.Iters, start)
	t0 := time.Now()
	labelled, warned := false, false
	loop := &Loop{
		Stepper: &Stepper{Threads: o.Threads, Head: head, Opt: opt, Loss: loss, Clip: cfg.Optim.ClipNorm, Ignore: cfg.Ignore, Seed: cfg.Seed, Sched: Schedule{Base: cfg.LR, Total: cfg.Iters, Warmup: cfg.Warmup}, ClassStats: stateful != nil},
		Source:  src, Run: run, Start: start, Iters: cfg.Iters, ValEvery: cfg.ValEvery, CkptEvery: cfg.CkptEvery,
		BestMIoU: best, BestIter: bestIter,
		Hooks: Hooks{
			Step: func(it int, st StepStats) {
				if stateful != nil {
					stateful.Observe(it, st.ClassCorrect, st.ClassTotal)
				}
				if err := logs.Step(it, st, time.Since(t0).Seconds()); err != nil {
					prog.Note("warning: %v", err)
				}
				prog.Step(it+1, st)
				if st.Valid > 0 {
					labelled = true
				} else if !warned {
					warned = true
					prog.Note("warning: every pixel of the batch at iteration %d has the ignore label %d, so it teaches nothing; check --ignore and the label files", it+1, cfg.Ignore)
				}
			},
		},
	}
	if stateful != nil {
		loop.SamplerState = stateful.MarshalBinary
	}
	if valSet != nil {
		validate := func(ctx context.Context) (metrics.Report, error) {
			rep, _, err := Validate(ctx, head, valSet, cfg.Ignore)
			return rep, err
		}
		if hw := staticInput(feats); hw[0] > 0 {
			// A model of fixed input size validates as eval runs it: each image resized to that size.
			pred := &infer.Predictor{Scorer: &infer.HeadScorer{Backbone: feats, Head: head}, Pre: cfg.Preprocess,
				Classes: val.Classes(), Mode: infer.Mode{Name: "resize", CropH: hw[0], CropW: hw[1]}}
			validate = func(ctx context.Context) (metrics.Report, error) {
				conf, _, err := infer.Evaluate(ctx, pred, val, len(val.Classes()), infer.EvalOptions{Ignore: cfg.Ignore, Workers: 1, Strict: true})
				if err != nil {
					return metrics.Report{}, err
				}
				return conf.Report(val.Classes()), nil
			}
		}
		loop.Hooks.Eval = func(ctx context.Context, it int) (float64, error) {
			rep, err := validate(ctx)
			if err != nil {
				return -1, err
			}
			if err := logs.Eval(it, rep.MIoU, rep.AAcc); err != nil {
				prog.Note("warning: %v", err)
			}
			prog.Note("iter %d: val mIoU %.2f%%, aAcc %.2f%%", it, 100*rep.MIoU, 100*rep.AAcc)
			return rep.MIoU, nil
		}
	}
	if start > 0 {
		prog.Note("resuming %s at iteration %d of %d", run, start, cfg.Iters)
		loop.EvalFirst = loop.Hooks.Eval != nil && (start == cfg.Iters || cfg.ValEvery > 0 && start%cfg.ValEvery == 0) && !HasEval(run, start)
	}
	err = loop.Do(ctx)
	if err == nil && !labelled && start < cfg.Iters {
		err = fmt.Errorf("train: no training batch had a labelled pixel: every label of %s read as the ignore label %d (the run folder keeps the %d steps); check --ignore and the label files", cfg.Data, cfg.Ignore, cfg.Iters-start)
	}
	prog.Finish()
	var ne *NumericError
	if errors.As(err, &ne) {
		if it := CheckpointIter(run); it > 0 {
			err = fmt.Errorf("%w; the last good checkpoint is %s (iteration %d)", err, filepath.Join(run, LastCkpt), it)
		} else {
			err = fmt.Errorf("%w; no checkpoint was written before it", err)
		}
	}
	sum := &Summary{Start: start, Iters: cfg.Iters, BestMIoU: loop.BestMIoU, BestIter: loop.BestIter, Seconds: time.Since(t0).Seconds()}
	return sum, err
}

// sources builds the training source and the validation set of cfg: images through the backbone
// (with augmentation), or the feature cache.
func sources(cfg *Config, ds, val data.Dataset, feats onnx.Features, smp Sampler) (Source, *ValSet, error) {
	var vs *ValSet
	if val != nil {
		vs = &ValSet{Classes: val.Classes(), N: val.Len(), Load: DirectFeatures(val, feats, cfg.Preprocess)}
	}
	if !cfg.CacheFeatures {
		src := &ImageSource{DS: ds, Backbone: feats, Pre: cfg.Preprocess, BatchSize: cfg.Batch, Seed: cfg.Seed, Transform: augmenter(cfg), Sampler: smp}
		return src, vs, nil
	}
	cache, err := OpenFeatureCache(cfg.CacheDir, CacheKey(cfg.BackboneSHA256, cfg.cacheFeature(cfg.Feature), cfg.Preprocess))
	if err != nil {
		return nil, nil, err
	}
	src := &CachedSource{DS: ds, Backbone: feats, Pre: cfg.Preprocess, Cache: cache, Split: "train-" + shortHash(cfg.Data), BatchSize: cfg.Batch, Seed: cfg.Seed, Sampler: smp}
	if val != nil {
		cs := &CachedSource{DS: val, Backbone: feats, Pre: cfg.Preprocess, Cache: cache, Split: "val-" + shortHash(cfg.ValData), BatchSize: 1}
		vs.Load = cs.Sample
	}
	return src, vs, nil
}

// staticInput returns the backbone's fixed input H and W, zero when its size is dynamic.
func staticInput(f onnx.Features) [2]int {
	j, ok := f.(*jobBackbone)
	if !ok {
		return [2]int{}
	}
	sess, err := j.session()
	if err != nil {
		return [2]int{}
	}
	in := sess.Session().InputLayout()
	return [2]int{in.StaticH, in.StaticW}
}

// augmenter returns the training transform for cfg (nil when there is nothing to do).
func augmenter(cfg *Config) Transform {
	if cfg.Scale == [2]float64{1, 1} && cfg.Crop == [2]int{} && !cfg.Flip {
		return nil
	}
	// Pad with the mean pixel so that padded pixels are 0 after normalisation.
	aug := data.Augment{ScaleMin: cfg.Scale[0], ScaleMax: cfg.Scale[1], CropH: cfg.Crop[0], CropW: cfg.Crop[1], Flip: cfg.Flip, Ignore: cfg.Ignore,
		Pad: cfg.Preprocess.MeanPixel()}
	return func(s *data.Sample, rng *rand.Rand) (*data.Sample, error) {
		return s, aug.Apply(s, rng)
	}
}

// shortHash names a dataset folder inside the feature cache.
func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}
