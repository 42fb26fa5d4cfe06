package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

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
	FeatureShape   []int64         `json:"feature_shape,omitempty"` // of the probe batch, for checks
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

// Compatible reports why a run folder's config old cannot be resumed or overwritten by new:
// a different backbone file, feature tensor, classes or head.
func Compatible(old, new *Config) error {
	switch {
	case old.BackboneSHA256 != new.BackboneSHA256:
		return fmt.Errorf("backbone differs (sha256 %.12s… in the run, %.12s… given)", old.BackboneSHA256, new.BackboneSHA256)
	case old.Feature != new.Feature:
		return fmt.Errorf("feature tensor differs (%q in the run, %q given)", old.Feature, new.Feature)
	case len(old.Classes) != len(new.Classes):
		return fmt.Errorf("class count differs (%d in the run, %d given)", len(old.Classes), len(new.Classes))
	case old.Head != new.Head:
		return fmt.Errorf("head differs (%+v in the run, %+v given)", old.Head, new.Head)
	case old.Loss.Name != new.Loss.Name:
		return fmt.Errorf("loss differs (%s in the run, %s given)", old.Loss.Name, new.Loss.Name)
	}
	return nil
}
