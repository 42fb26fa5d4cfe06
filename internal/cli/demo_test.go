package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmpseg/lmpseg/internal/synth"
)

// TestDemoQuick runs the main command end to end on a small dataset placed where the demo looks
// for it (the demo generates the full default one only when none is there).
func TestDemoQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("demo smoke run skipped with -short")
	}
	out := t.TempDir()
	if err := synth.Generate(filepath.Join(out, "data"), synth.Options{Seed: 3, Train: 8, Val: 4, H: 64, W: 128}); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "demo", "--out", out, "--quick", "--iters", "6", "--batch", "2")
	for _, want := range []string{"lmp p=1.7 r=0.25", "wce (median freq)", "topk (25%)", "ohem (0.7)", "(match)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	var rep struct {
		Classes []string `json:"classes"`
		Rows    []struct {
			Name     string    `json:"name"`
			MIoUMean float64   `json:"miou_mean"`
			IoUMean  []float64 `json:"iou_mean"`
			Seeds    []struct {
				MIoU float64 `json:"miou"`
			} `json:"seeds"`
		} `json:"rows"`
		Export struct {
			Match    bool    `json:"match"`
			GoMIoU   float64 `json:"go_miou"`
			OnnxMIoU float64 `json:"onnxruntime_miou"`
			MaxDiff  float64 `json:"parity_max_abs_logit_diff"`
		} `json:"export"`
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 10 {
		t.Fatalf("report.json has %d rows, want 6 losses and 4 with a class sampler", len(rep.Rows))
	}
	for _, row := range rep.Rows {
		if len(row.Seeds) != 1 || len(row.IoUMean) != len(rep.Classes) {
			t.Errorf("%s: %d seeds, %d per-class IoUs for %d classes", row.Name, len(row.Seeds), len(row.IoUMean), len(rep.Classes))
		}
		if row.MIoUMean != row.Seeds[0].MIoU || !(row.MIoUMean > 0 && row.MIoUMean <= 1) {
			t.Errorf("%s: mIoU mean %v, seed %v", row.Name, row.MIoUMean, row.Seeds[0].MIoU)
		}
	}
	if !rep.Export.Match || rep.Export.GoMIoU != rep.Export.OnnxMIoU && (rep.Export.GoMIoU-rep.Export.OnnxMIoU) > 1e-4 || rep.Export.MaxDiff > 1e-4 {
		t.Errorf("export check: %+v", rep.Export)
	}
	for _, f := range []string{"report.md", "lmp.onnx", "plots/iou_per_loss.png", "plots/loss_curves.png", "html/index.html", "html/iou.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
}
