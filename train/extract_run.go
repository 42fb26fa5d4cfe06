package train

import (
	"context"
	"sync"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/onnx"
)

// jobBackbone is the backbone of a training job. Its onnxruntime session is opened up front,
// except when the job reads a feature cache that holds every sample: then the head's input shape
// comes from the cache and the session is opened only if an entry turns out damaged when read.
type jobBackbone struct {
	path    string
	opts    onnx.Options
	feature string
	shape   []int64 // the probe's feature shape from a complete cache; nil: probe the session
	nhwc    bool    // the feature is channels-last: transposed to NCHW
	packed  bool    // a lifted decoder reads several tensors: packed into one

	mu sync.Mutex
	bb *onnx.Backbone
}

// openJobBackbone returns the backbone of rc. With rc.CacheFeatures it first counts the cache's
// entries of ds and val and notes the count on o.Progress in one line.
func openJobBackbone(ctx context.Context, rc *Config, sha string, ds, val data.Dataset, o Options) (*jobBackbone, error) {
	j := &jobBackbone{path: rc.Backbone, opts: rc.BackboneOptions(o.Device, o.Threads),
		nhwc: rc.FeatureLayout == layoutNHWC, packed: rc.packed()}
	if rc.CacheFeatures {
		feature, err := defaultFeature(rc.Backbone, rc.Feature)
		if err != nil {
			return nil, err
		}
		root := rc.CacheDir
		if root == "" {
			root = DefaultCacheDir()
		}
		splits := []cacheSplit{{trainSplit(rc.Data), rc.Data, ds}}
		if val != nil {
			splits = append(splits, cacheSplit{valSplit(rc.ValData), rc.ValData, val})
		}
		st, err := cacheStatus(ctx, root, CacheKey(sha, rc.cacheFeature(feature), rc.Preprocess), splits, o.Threads)
		if err != nil {
			return nil, err
		}
		o.Progress.Note("%s", st)
		if st.Complete() && st.Shape != nil && rc.Crop == [2]int{} {
			j.feature, j.shape = feature, st.Shape
			return j, nil
		}
	}
	bb, err := j.session()
	if err != nil {
		return nil, err
	}
	j.feature = bb.Feature()
	return j, nil
}

// session returns the onnxruntime session, opening it on first use.
func (j *jobBackbone) session() (*onnx.Backbone, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.bb == nil {
		bb, err := onnx.OpenBackbone(j.path, j.opts)
		if err != nil {
			return nil, err
		}
		j.bb = bb
	}
	return j.bb, nil
}

// Opened reports whether the onnxruntime session was opened.
func (j *jobBackbone) Opened() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.bb != nil
}

// Feature returns the feature tensor's name.
func (j *jobBackbone) Feature() string { return j.feature }

// probe returns the feature shape of one preprocessed h×w image x: from the cache when it is
// complete, else by running the session.
func (j *jobBackbone) probe(x []float32, h, w int) ([]int64, error) {
	if j.shape != nil {
		return append([]int64(nil), j.shape...), nil
	}
	bb, err := j.session()
	if err != nil {
		return nil, err
	}
	_, shape, err := featureView(bb, j.nhwc, j.packed).Run(x, 1, h, w)
	return shape, err
}

// Run implements onnx.Features, opening the session on first use.
func (j *jobBackbone) Run(x []float32, n, h, w int) ([]float32, []int64, error) {
	bb, err := j.session()
	if err != nil {
		return nil, nil, err
	}
	return featureView(bb, j.nhwc, j.packed).Run(x, n, h, w)
}

// inputType is the element type of the backbone's image input: from the session when it is
// open, else from the model file.
func (j *jobBackbone) inputType() string {
	if j.Opened() {
		bb, _ := j.session()
		return bb.Session().InputLayout().ElemType
	}
	m, err := onnx.Load(j.path)
	if err != nil {
		return ""
	}
	in, err := onnx.ImageInput(m)
	if err != nil {
		return ""
	}
	return in.ElemType
}

// Close closes the session when it was opened.
func (j *jobBackbone) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.bb == nil {
		return nil
	}
	return j.bb.Close()
}
