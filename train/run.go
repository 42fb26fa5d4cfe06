package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lmpseg/lmpseg/graph"
)

// OpenRun loads a run folder's config and its trained net (a *graph.Head, or a *lift.Head for a
// lifted decoder): the best checkpoint when there is one, else the last.
func OpenRun(run string) (*Config, graph.Trainable, *Checkpoint, error) {
	cfg, err := LoadConfig(run)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, name := range []string{BestCkpt, LastCkpt} {
		p := filepath.Join(run, name)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if cfg.Lift != nil {
			c, err := LoadCheckpoint(p)
			if err != nil {
				return nil, nil, nil, err
			}
			t, err := loadTrainable(cfg, c.Head, 0)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("train: %s: %w (the checkpoint comes from another run, or the backbone changed; restore the run's own or retrain)", p, err)
			}
			return cfg, t, c, nil
		}
		h, c, err := LoadHead(p)
		if err != nil {
			return nil, nil, nil, err
		}
		if got := h.Spec(); got != cfg.Head {
			return nil, nil, nil, fmt.Errorf("train: %s holds a %s head on %d channels for %d classes, but %s describes a %s head on %d channels for %d classes: the checkpoint comes from another run; restore the run's own or retrain", p, got.Kind, got.InChannels, got.Classes, filepath.Join(run, ConfigFile), cfg.Head.Kind, cfg.Head.InChannels, cfg.Head.Classes)
		}
		return cfg, h, c, nil
	}
	return nil, nil, nil, fmt.Errorf("train: run %s has no checkpoint yet (%s or %s); train it first", run, BestCkpt, LastCkpt)
}

// Logs appends to a run's metrics.jsonl and train.csv.
type Logs struct {
	jsonl, csv *os.File
}

// OpenLogs opens the logs of run for appending. Lines of iterations after keepUpTo (the iteration
// of the checkpoint being resumed) are dropped first, so that a resumed run's logs read as if it
// had never stopped.
func OpenLogs(run string, keepUpTo int) (*Logs, error) {
	l := &Logs{}
	for _, f := range []struct {
		name string
		dst  **os.File
		iter func(line string) (int, bool)
	}{
		{MetricsFile, &l.jsonl, func(line string) (int, bool) {
			var v struct {
				Iter *int `json:"iter"`
			}
			if json.Unmarshal([]byte(line), &v) != nil || v.Iter == nil {
				return 0, false
			}
			return *v.Iter, true
		}},
		{CSVFile, &l.csv, func(line string) (int, bool) {
			a, _, _ := strings.Cut(line, ",")
			n, err := strconv.Atoi(a)
			return n, err == nil
		}},
	} {
		p := filepath.Join(run, f.name)
		old, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("train: %w", err)
		}
		var keep bytes.Buffer
		sc := bufio.NewScanner(bytes.NewReader(old))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			line := sc.Text()
			it, ok := f.iter(line)
			if ok && it > keepUpTo {
				continue // logged after the checkpoint being resumed
			}
			if !ok && f.name == MetricsFile {
				continue // every metrics line has an iteration: this one was torn by a kill
			}
			keep.WriteString(line)
			keep.WriteByte('\n')
		}
		if err := sc.Err(); err != nil {
			// Rewriting the file now would drop the rest of it: leave it as it is.
			return nil, fmt.Errorf("train: reading %s: %w (the file is damaged; repair or remove it before resuming)", p, err)
		}
		if f.name == CSVFile && keep.Len() == 0 {
			keep.WriteString("iter,loss,lr,grad_norm,eff_frac,max_w,valid,seconds\n")
		}
		if err := WriteFileAtomic(p, keep.Bytes()); err != nil {
			return nil, err
		}
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		*f.dst = fh
	}
	return l, nil
}

// Step logs one training step.
func (l *Logs) Step(it int, st StepStats, seconds float64) error {
	b, _ := json.Marshal(map[string]any{"iter": it + 1, "loss": st.Loss, "lr": st.LR, "grad_norm": st.GradNorm,
		"eff_frac": st.EffFrac, "max_w": st.MaxW, "valid": st.Valid, "seconds": seconds})
	if _, err := l.jsonl.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("train: writing %s: %w", l.jsonl.Name(), err)
	}
	_, err := fmt.Fprintf(l.csv, "%d,%.6g,%.6g,%.6g,%.4f,%.4g,%d,%.3f\n", it+1, st.Loss, st.LR, st.GradNorm, st.EffFrac, st.MaxW, st.Valid, seconds)
	if err != nil {
		return fmt.Errorf("train: writing %s: %w", l.csv.Name(), err)
	}
	return nil
}

// Eval logs a validation result.
func (l *Logs) Eval(it int, miou, aacc float64) error {
	b, _ := json.Marshal(map[string]any{"iter": it, "val_miou": miou, "val_aacc": aacc})
	_, err := l.jsonl.Write(append(b, '\n'))
	return err
}

// Close closes the log files.
func (l *Logs) Close() error {
	e1 := l.jsonl.Close()
	e2 := l.csv.Close()
	return errors.Join(e1, e2)
}

// HasEval reports whether the run's metrics.jsonl holds a validation result at iteration it.
func HasEval(run string, it int) bool {
	b, err := os.ReadFile(filepath.Join(run, MetricsFile))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		var v struct {
			Iter *int     `json:"iter"`
			MIoU *float64 `json:"val_miou"`
		}
		if json.Unmarshal([]byte(line), &v) == nil && v.Iter != nil && *v.Iter == it && v.MIoU != nil {
			return true
		}
	}
	return false
}

// ReadLossCurve returns (iteration, loss) pairs from a run's metrics.jsonl.
func ReadLossCurve(run string) ([][2]float64, error) {
	b, err := os.ReadFile(filepath.Join(run, MetricsFile))
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var out [][2]float64
	for _, line := range strings.Split(string(b), "\n") {
		var v struct {
			Iter int      `json:"iter"`
			Loss *float64 `json:"loss"`
		}
		if json.Unmarshal([]byte(line), &v) == nil && v.Loss != nil {
			out = append(out, [2]float64{float64(v.Iter), *v.Loss})
		}
	}
	return out, nil
}
