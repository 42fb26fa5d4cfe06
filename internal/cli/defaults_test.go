package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainDefaults runs train with only --backbone, --data, --out and --iters (or --epochs): it
// must pick a crop (the model's fixed input size, else a square of the first image's short side),
// print the effective recipe once and record every default in config.json.
func TestTrainDefaults(t *testing.T) {
	ds := filepath.Join(synthData(t), "train") // 64x128 images
	cases := []struct {
		name     string
		model    string
		extra    []string
		wantCrop [2]int
		iters    int
	}{
		{"free input size", "tiny_dyn_s4.onnx", []string{"--iters", "40"}, [2]int{64, 64}, 40},
		{"fixed input size", "tiny_static_s8.onnx", []string{"--epochs", "2"}, [2]int{64, 128}, 6},
	}
	for _, c := range cases {
		out := filepath.Join(t.TempDir(), "run")
		args := append([]string{"train", "--backbone", modelPath(c.model), "--data", ds, "--out", out}, c.extra...)
		r := runApp(args...)
		if r.err != nil || r.panic != nil {
			t.Errorf("%s: lmpseg %s: %v %v\n%s%s", c.name, strings.Join(args, " "), r.err, r.panic, r.stdout, r.stderr)
			continue
		}
		b := readFile(t, filepath.Join(out, "config.json"))
		var cfg struct {
			Crop    [2]int     `json:"crop"`
			Scale   [2]float64 `json:"scale"`
			Batch   int        `json:"batch"`
			Iters   int        `json:"iters"`
			Feature string     `json:"feature"`
			LR      float64    `json:"lr"`
			Loss    struct {
				Name string `json:"name"`
			} `json:"loss"`
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatalf("%s: config.json: %v", c.name, err)
		}
		if cfg.Crop != c.wantCrop {
			t.Errorf("%s: config.json crop %v, want %v", c.name, cfg.Crop, c.wantCrop)
		}
		if cfg.Scale != [2]float64{0.5, 2} || cfg.Batch != 2 || cfg.Iters != c.iters || cfg.Feature == "" || cfg.LR <= 0 || cfg.Loss.Name != "lmp" {
			t.Errorf("%s: config.json %+v: want the defaults (scale 0.5-2, batch 2, %d iterations, a feature, lr, lmp)", c.name, cfg, c.iters)
		}
		if n := strings.Count(r.stdout, "recipe ("); n != 1 {
			t.Errorf("%s: recipe printed %d times:\n%s", c.name, n, r.stdout)
		}
		crop := "crop     " + strings.Trim(strings.Replace(strings.Trim(jsonPair(c.wantCrop), "[]"), ",", "x", 1), " ")
		for _, w := range []string{"backbone", modelPath(c.model), "feature  " + cfg.Feature, crop + " (default", "scale    0.5-2", "batch    2", "loss     lmp", "lr       0.01", "iters    " + itoa(c.iters)} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s: recipe lacks %q:\n%s", c.name, w, r.stdout)
			}
		}
	}
}

func jsonPair(p [2]int) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
