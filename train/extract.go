package train

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/metrics"
	"github.com/lmpseg/lmpseg/onnx"
)

// ExtractOptions name the features that Extract computes and Status counts: those that a training
// job with --cache-features and the same backbone, feature tensor, datasets and preprocessing
// reads.
type ExtractOptions struct {
	Backbone string // ONNX model path
	Feature  string // feature tensor; "" is the model's first output, as in training
	// Data is the training dataset folder and ValData the optional validation one. Cache entries
	// are named after the absolute path, as the train command names them, so relative paths are
	// made absolute.
	Data, ValData string
	Format        string // dataset layout, "" to detect
	Split         string // split of Data ("" is train)
	ValSplit      string // split of ValData ("" is val)
	Ignore        int32
	NumClasses    int
	ClassNames    []string
	Preprocess    data.Preprocess
	CacheDir      string        // cache root; "" is DefaultCacheDir
	Shard         metrics.Shard // images i, i+N, ... of each dataset; the zero value is the whole
	Device        string        // onnxruntime execution provider
	Threads       int           // onnxruntime intra-op threads; 0: all cores
	// Progress, when set, is called after each image of the shard with the number done and the
	// shard's total.
	Progress func(done, total int)
}

// ExtractStats says what Extract did.
type ExtractStats struct {
	Dir     string  // the cache folder (root/key)
	Images  int     // images of the shard
	Written int     // entries computed and written
	Present int     // entries already present and whole, left alone
	Seconds float64 // wall time
}

// ImagesPerSecond returns the rate at which entries were computed and written.
func (s ExtractStats) ImagesPerSecond() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return float64(s.Written) / s.Seconds
}

// SplitStatus counts the entries of one dataset in a feature cache.
type SplitStatus struct {
	Split  string // the entries' name prefix in the cache (train-HASH or val-HASH)
	Data   string // the dataset folder
	Images int
	// Present entries are whole and of the sample's content hash. Stale ones exist but cannot be
	// used: of another image or label (or damaged), or only under another key, that is for
	// another backbone, feature tensor or preprocessing. Missing ones are neither.
	Present, Missing, Stale int
}

// CacheStatus counts the entries of a job's datasets in a feature cache.
type CacheStatus struct {
	Dir    string // the cache folder (root/key)
	Splits []SplitStatus
	// Shape is the feature shape (1, C, h, w) of the first training image, read from its entry
	// when that is present.
	Shape []int64
}

// Complete reports whether every entry is present.
func (s *CacheStatus) Complete() bool {
	for _, sp := range s.Splits {
		if sp.Present != sp.Images {
			return false
		}
	}
	return true
}

// String describes the status in one line.
func (s *CacheStatus) String() string {
	parts := make([]string, len(s.Splits))
	for k, sp := range s.Splits {
		parts[k] = fmt.Sprintf("%s (%s) %d present, %d missing, %d stale of %d", sp.Split, sp.Data, sp.Present, sp.Missing, sp.Stale, sp.Images)
	}
	return fmt.Sprintf("feature cache %s: %s", s.Dir, strings.Join(parts, "; "))
}

// cacheSplit is one dataset of a job as the cache names it.
type cacheSplit struct {
	name, dir string
	ds        data.Dataset
}

// trainSplit and valSplit name a dataset's entries in the cache.
func trainSplit(dir string) string { return "train-" + shortHash(dir) }
func valSplit(dir string) string   { return "val-" + shortHash(dir) }

// extractPlan is what Extract and Status share: the cache and the datasets.
type extractPlan struct {
	root, key string
	cache     *FeatureCache
	splits    []cacheSplit
}

func planExtract(o *ExtractOptions) (*extractPlan, error) {
	if o.Backbone == "" {
		return nil, errors.New("train: extract: no backbone given")
	}
	if o.Data == "" {
		return nil, errors.New("train: extract: no dataset given")
	}
	if err := o.Preprocess.Validate(); err != nil {
		return nil, fmt.Errorf("train: extract: preprocessing: %w", err)
	}
	if err := absPaths(&o.Backbone, &o.Data, &o.ValData); err != nil {
		return nil, fmt.Errorf("train: extract: %w", err)
	}
	if o.Shard.N == 0 {
		o.Shard = metrics.Whole
	}
	if o.Shard.N < 1 || o.Shard.I < 0 || o.Shard.I >= o.Shard.N {
		return nil, fmt.Errorf("train: extract: shard %d/%d: want i/N with 0 <= i < N", o.Shard.I, o.Shard.N)
	}
	do := data.Options{Ignore: o.Ignore, NumClasses: o.NumClasses, ClassNames: o.ClassNames, Split: o.Split}
	ds, err := data.Open(o.Data, o.Format, do)
	if err != nil {
		return nil, err
	}
	p := &extractPlan{splits: []cacheSplit{{trainSplit(o.Data), o.Data, ds}}}
	if o.ValData != "" {
		do.Split, do.NumClasses, do.ClassNames = o.ValSplit, len(ds.Classes()), nil
		if do.Split == "" {
			do.Split = "val"
		}
		val, err := data.Open(o.ValData, o.Format, do)
		if err != nil {
			return nil, err
		}
		p.splits = append(p.splits, cacheSplit{valSplit(o.ValData), o.ValData, val})
	}
	sha, err := onnx.Sha256(o.Backbone)
	if err != nil {
		return nil, fmt.Errorf("train: extract: backbone: %w", err)
	}
	if o.Feature, err = defaultFeature(o.Backbone, o.Feature); err != nil {
		return nil, err
	}
	p.root = o.CacheDir
	if p.root == "" {
		p.root = DefaultCacheDir()
	}
	p.key = CacheKey(sha, o.Feature, o.Preprocess)
	if p.cache, err = OpenFeatureCache(p.root, p.key); err != nil {
		return nil, err
	}
	return p, nil
}

// defaultFeature returns feature, or when it is empty the name of the model's first output (the
// tensor a backbone opened without a feature name returns), reading the model but starting no
// onnxruntime session.
func defaultFeature(model, feature string) (string, error) {
	if feature != "" {
		return feature, nil
	}
	m, err := onnx.Load(model)
	if err != nil {
		return "", err
	}
	return firstOutput(m)
}

// firstOutput is the name of m's first graph output: the default feature tensor.
func firstOutput(m *onnx.Model) (string, error) {
	outs := m.Proto.GetGraph().GetOutput()
	if len(outs) == 0 {
		return "", fmt.Errorf("train: %s has no graph output; give the feature tensor with --feature", m.Path)
	}
	return outs[0].GetName(), nil
}

// Extract computes the backbone features of the shard's images of o.Data (and o.ValData) and
// stores them in the feature cache that training with --cache-features reads. Entries already
// present and whole (checksum verified) are left alone, so an interrupted extraction continues
// where it stopped. Any number of processes may extract shards into one cache folder at once:
// each entry is written to a temporary file and renamed, so a reader sees an old entry, none or a
// whole new one. The entries are those training writes itself on a miss, byte for byte.
func Extract(ctx context.Context, o ExtractOptions) (ExtractStats, error) {
	t0 := time.Now()
	p, err := planExtract(&o)
	if err != nil {
		return ExtractStats{}, err
	}
	bb, err := onnx.OpenBackbone(o.Backbone, onnx.Options{Feature: o.Feature, Device: o.Device, Threads: o.Threads})
	if err != nil {
		return ExtractStats{}, err
	}
	defer bb.Close()
	st, err := extract(ctx, p.cache, p.splits, o.Shard, bb, o.Preprocess, o.Progress)
	st.Dir = p.cache.Dir
	st.Seconds = time.Since(t0).Seconds()
	return st, err
}

// loaded is a sample read ahead of the backbone.
type loaded struct {
	idx int
	smp *data.Sample
	err error
}

// extract fills the cache with the shard's entries of each split, running feats on one image at a
// time as CachedSource does on a miss. Decoding runs one image ahead of the backbone.
func extract(ctx context.Context, c *FeatureCache, splits []cacheSplit, sh metrics.Shard, feats onnx.Features, pre data.Preprocess, progress func(done, total int)) (ExtractStats, error) {
	var st ExtractStats
	for _, sp := range splits {
		st.Images += len(sh.Indices(sp.ds.Len()))
	}
	done := 0
	for _, sp := range splits {
		idx := sh.Indices(sp.ds.Len())
		ch := make(chan loaded, 2)
		stop := make(chan struct{})
		go func() {
			defer close(ch)
			for _, i := range idx {
				smp, err := sp.ds.Load(i)
				select {
				case ch <- loaded{i, smp, err}:
				case <-stop:
					return
				}
			}
		}()
		err := func() error {
			defer close(stop)
			for l := range ch {
				if err := ctx.Err(); err != nil {
					return err
				}
				if l.err != nil {
					return l.err
				}
				sum, _, err := sampleKey(sp.ds, l.idx, l.smp)
				if err != nil {
					return err
				}
				state, _, err := c.Check(sp.name, l.idx, sum, true)
				if err != nil {
					return err
				}
				if state == EntryPresent {
					st.Present++
				} else {
					b, err := FeatureBatch(feats, pre, []*data.Sample{l.smp})
					if err != nil {
						return err
					}
					for k, v := range b.Feat.Data {
						b.Feat.Data[k] = f16to32(f32to16(v))
					}
					if err := c.Put(sp.name, l.idx, sum, b.Feat, b.Labels, b.H, b.W); err != nil {
						return err
					}
					st.Written++
				}
				done++
				if progress != nil {
					progress(done, st.Images)
				}
			}
			return nil
		}()
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// Status counts the present, missing and stale entries of o's datasets in the feature cache,
// without opening the backbone (it decodes every image, for the content hashes). o.Shard is not
// used: the status is of the whole datasets.
func Status(ctx context.Context, o ExtractOptions) (*CacheStatus, error) {
	p, err := planExtract(&o)
	if err != nil {
		return nil, err
	}
	return cacheStatus(ctx, p.root, p.key, p.splits, o.Threads)
}

// cacheStatus counts the entries of splits in the cache root/key, decoding the samples on threads
// goroutines (0: all cores).
func cacheStatus(ctx context.Context, root, key string, splits []cacheSplit, threads int) (*CacheStatus, error) {
	c := &FeatureCache{Dir: filepath.Join(root, key)}
	st := &CacheStatus{Dir: c.Dir}
	// Entry names found under other keys: features of another backbone, tensor or preprocessing.
	elsewhere := map[string]bool{}
	if dirs, err := os.ReadDir(root); err == nil {
		for _, d := range dirs {
			if !d.IsDir() || d.Name() == key {
				continue
			}
			ents, _ := os.ReadDir(filepath.Join(root, d.Name()))
			for _, e := range ents {
				elsewhere[e.Name()] = true
			}
		}
	}
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	for _, sp := range splits {
		n := sp.ds.Len()
		states := make([]EntryState, n)
		var dims0 [5]int
		var firstErr error
		var mu sync.Mutex
		next := 0
		var wg sync.WaitGroup
		for w := 0; w < threads; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					i := next
					next++
					stop := firstErr != nil
					mu.Unlock()
					if i >= n || stop {
						return
					}
					err := ctx.Err()
					var s EntryState
					var dims [5]int
					if err == nil {
						var sum [16]byte
						if sum, _, err = sampleKey(sp.ds, i, nil); err == nil {
							s, dims, err = c.Check(sp.name, i, sum, false)
						}
					}
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						return
					}
					if s == EntryMissing && elsewhere[filepath.Base(c.path(sp.name, i))] {
						s = EntryStale
					}
					states[i] = s
					if i == 0 {
						dims0 = dims
					}
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
		ss := SplitStatus{Split: sp.name, Data: sp.dir, Images: n}
		for _, s := range states {
			switch s {
			case EntryPresent:
				ss.Present++
			case EntryStale:
				ss.Stale++
			default:
				ss.Missing++
			}
		}
		if len(st.Splits) == 0 && n > 0 && states[0] == EntryPresent {
			st.Shape = []int64{1, int64(dims0[0]), int64(dims0[1]), int64(dims0[2])}
		}
		st.Splits = append(st.Splits, ss)
	}
	return st, nil
}
