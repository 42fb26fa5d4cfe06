package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/lmp"
)

// LossConfig names the pixel loss and its parameters (see lmp.New).
type LossConfig struct {
	Name        string      `json:"name"`
	Options     lmp.Options `json:"options"`
	ClassWeight string      `json:"class_weighting,omitempty"` // inverse | median, for wce
}

// MarshalJSON writes an infinite LMP p (pooling the hardest pixels with equal weight), which a
// JSON number cannot hold, as "p_inf": true with p 0.
func (l LossConfig) MarshalJSON() ([]byte, error) {
	type plain LossConfig
	v := struct {
		plain
		PInf bool `json:"p_inf,omitempty"`
	}{plain: plain(l)}
	if math.IsInf(l.Options.P, 1) {
		v.Options.P, v.PInf = 0, true
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *LossConfig) UnmarshalJSON(b []byte) error {
	type plain LossConfig
	var v struct {
		plain
		PInf bool `json:"p_inf"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*l = LossConfig(v.plain)
	if v.PInf {
		l.Options.P = math.Inf(1)
	}
	return nil
}

// Config is config.json of a run folder: everything needed to rebuild the model and to resume.
type Config struct {
	Tool           string          `json:"tool"`
	Backbone       string          `json:"backbone"`
	BackboneSHA256 string          `json:"backbone_sha256"`
	Feature        string          `json:"feature"`
	FeatureShape   []int64         `json:"feature_shape,omitempty"`  // of the probe batch, for checks
	FeatureLayout  string          `json:"feature_layout,omitempty"` // "nhwc": a channels-last tensor, transposed before the head
	Preprocess     data.Preprocess `json:"preprocess"`
	Data           string          `json:"data"`
	ValData        string          `json:"val_data,omitempty"`
	Format         string          `json:"format"`
	Split          string          `json:"split,omitempty"`     // training split (cityscapes, voc); "" = train
	ValSplit       string          `json:"val_split,omitempty"` // "" = val
	Classes        []string        `json:"classes"`
	Ignore         int32           `json:"ignore"`
	Head           graph.HeadSpec  `json:"head"`
	Loss           LossConfig      `json:"loss"`
	Optim          OptimConfig     `json:"optimizer"`
	LR             float64         `json:"lr"`
	Warmup         int             `json:"warmup"`
	Iters          int             `json:"iters"`
	Epochs         int             `json:"epochs,omitempty"` // when set, Iters is derived from it and the dataset size
	Batch          int             `json:"batch"`
	Crop           [2]int          `json:"crop"`  // H, W; 0 = no crop
	Scale          [2]float64      `json:"scale"` // random scale range; {1,1} = none
	Flip           bool            `json:"flip"`
	Seed           int64           `json:"seed"`
	ValEvery       int             `json:"val_every"`
	CkptEvery      int             `json:"ckpt_every"`
	CacheFeatures  bool            `json:"cache_features"`
	CacheDir       string          `json:"cache_dir,omitempty"`
	// Sampler chooses the training images: "" (uniform), class-uniform or performance (see
	// ClassSampler); SamplerMix is the probability that a slot draws a class first (those two).
	Sampler    string  `json:"sampler,omitempty"`
	SamplerMix float64 `json:"sampler_mix,omitempty"`
	// Lift, when set, trains the backbone's own decoder from Lift.From instead of a new head;
	// Head then records kind "lifted" with the decoder's input channels and classes.
	Lift *LiftConfig `json:"lift,omitempty"`
}

// Run folder file names.
const (
	ConfigFile  = "config.json"
	LastCkpt    = "last.ckpt"
	BestCkpt    = "best.ckpt"
	MetricsFile = "metrics.jsonl"
	CSVFile     = "train.csv"
)

// SaveConfig writes c as RUN/config.json atomically.
func SaveConfig(run string, c *Config) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return WriteFileAtomic(filepath.Join(run, ConfigFile), append(b, '\n'))
}

// LoadConfig reads RUN/config.json.
func LoadConfig(run string) (*Config, error) {
	p := filepath.Join(run, ConfigFile)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("train: %s is not a run folder: %s is missing (train one with 'lmpseg train --out %s')", run, ConfigFile, run)
	}
	return ReadConfig(p)
}

// ReadConfig reads a recipe: a run's config.json at path.
func ReadConfig(p string) (*Config, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("train: %s: %w (the file is damaged; retrain or restore it)", p, err)
	}
	return &c, nil
}

// ResumeMayChange lists the config.json keys that a resumed run may change: how long it trains and
// how often it validates and checkpoints, and where its feature cache lives. Every other key
// changes what the finished run computes, so a resume that changes it is refused.
var ResumeMayChange = []string{"tool", "iters", "epochs", "val_every", "ckpt_every", "cache_dir"}

// Compatible reports why a run folder's config old cannot be resumed with the recipe new: the
// first key outside ResumeMayChange whose value differs.
func Compatible(old, new *Config) error {
	a, b := configMap(old), configMap(new)
	for _, k := range ResumeMayChange {
		delete(a, k)
		delete(b, k)
	}
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		x, _ := json.Marshal(a[k])
		y, _ := json.Marshal(b[k])
		if !bytes.Equal(x, y) {
			return fmt.Errorf("%s differs (%s in the run, %s given); only %s may change on --resume", k, clip(x), clip(y), strings.Join(ResumeMayChange[1:], ", "))
		}
	}
	return nil
}

func configMap(c *Config) map[string]any {
	b, _ := json.Marshal(c)
	m := map[string]any{}
	json.Unmarshal(b, &m)
	return m
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}
