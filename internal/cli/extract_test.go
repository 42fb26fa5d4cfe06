package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lmpseg/lmpseg/train"
)

// cacheFiles returns the files under a feature cache root by their path relative to it.
func cacheFiles(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		b, err := os.ReadFile(p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Three extract processes of the built binary, shards 0/3, 1/3 and 2/3 (from --shard, from
// JOB_COMPLETION_INDEX and from SLURM_ARRAY_TASK_ID), run at once into one cache folder, give the
// cache of one unsharded extraction byte for byte; training on it never misses and gives the
// checkpoint of a run that filled its own cache.
func TestExtractShardedProcesses(t *testing.T) {
	ds := synthData(t)
	tmp := fastTempDir(t)
	sharded, whole, own := filepath.Join(tmp, "sharded"), filepath.Join(tmp, "whole"), filepath.Join(tmp, "own")
	args := func(cache string, extra ...string) []string {
		return append([]string{"extract", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--feature", "feat_s4",
			"--data", filepath.Join(ds, "train"), "--val-data", filepath.Join(ds, "val"), "--cache-dir", cache, "--threads", "1", "--quiet"}, extra...)
	}
	shards := []struct {
		env  []string
		args []string
	}{
		{nil, args(sharded, "--shard", "0/3")},
		{[]string{"JOB_COMPLETION_INDEX=1"}, args(sharded, "--shards", "3")},
		{[]string{"SLURM_ARRAY_TASK_ID=12", "SLURM_ARRAY_TASK_MIN=10", "SLURM_ARRAY_TASK_COUNT=3"}, args(sharded)},
	}
	outs := make([]string, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for k, s := range shards {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			cmd := exec.Command(binPath, s.args...)
			cmd.Dir = tmp
			cmd.Env = append(os.Environ(), s.env...)
			b, err := cmd.CombinedOutput()
			outs[k], errs[k] = string(b), err
		}(k)
	}
	wg.Wait()
	for k := range shards {
		if errs[k] != nil {
			t.Fatalf("shard %d: %v\n%s", k, errs[k], outs[k])
		}
		// 6 training and 3 validation images: shard k has 2 + 1.
		if want := fmt.Sprintf("shard %d/3: 3 images, 3 written, 0 already present", k); !strings.Contains(outs[k], want) {
			t.Errorf("shard %d says %q, want %q", k, outs[k], want)
		}
	}
	if out, errOut, code := runBin(t, tmp, args(whole)...); code != 0 {
		t.Fatalf("unsharded extract: exit %d\n%s%s", code, out, errOut)
	}
	got, want := cacheFiles(t, sharded), cacheFiles(t, whole)
	if len(want) != 9 {
		t.Fatalf("the unsharded extraction wrote %d files, want 9: %v", len(want), keys(want))
	}
	if len(got) != len(want) {
		t.Fatalf("the sharded extraction wrote %v, the unsharded one %v", keys(got), keys(want))
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s differs between the sharded and the unsharded extraction", name)
		}
	}

	out, errOut, code := runBin(t, tmp, args(sharded, "--status")...)
	if code != 0 || !strings.Contains(out, "6 present, 0 missing, 0 stale of 6") || !strings.Contains(out, "3 present, 0 missing, 0 stale of 3") {
		t.Errorf("--status: exit %d\n%s%s", code, out, errOut)
	}
	// Other preprocessing: another key, so every entry is stale.
	out, errOut, code = runBin(t, tmp, args(sharded, "--status", "--mean", "0.5,0.5,0.5")...)
	if code != 0 || !strings.Contains(out, "0 present, 0 missing, 6 stale of 6") {
		t.Errorf("--status with another --mean: exit %d\n%s%s", code, out, errOut)
	}

	runs := map[string]string{}
	for _, cache := range []string{sharded, own} {
		run := filepath.Join(tmp, "run-"+filepath.Base(cache))
		r := mustRun(t, "train", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--feature", "feat_s4",
			"--data", filepath.Join(ds, "train"), "--val-data", filepath.Join(ds, "val"), "--out", run,
			"--cache-features", "--cache-dir", cache, "--iters", "6", "--loss", "lmp", "--lr", "0.05", "--threads", "1")
		status := "6 present, 0 missing, 0 stale of 6"
		if cache == own {
			status = "0 present, 6 missing, 0 stale of 6"
		}
		if !strings.Contains(r.stdout, status) {
			t.Errorf("train on %s: want the status line %q in\n%s", filepath.Base(cache), status, r.stdout)
		}
		runs[cache] = run
	}
	for _, f := range []string{train.LastCkpt, train.BestCkpt} {
		a, b := readFile(t, filepath.Join(runs[sharded], f)), readFile(t, filepath.Join(runs[own], f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s of the run on the extracted cache differs from that of the run that filled its own", f)
		}
	}
	// Training filled its own cache with the entries extract wrote.
	if ownFiles := cacheFiles(t, own); len(ownFiles) != len(want) {
		t.Errorf("training's own cache has %v, extract's %v", keys(ownFiles), keys(want))
	} else {
		for name, b := range want {
			if !bytes.Equal(ownFiles[name], b) {
				t.Errorf("%s differs between extract's and training's cache", name)
			}
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Bad shard settings are refused before anything runs, naming the setting.
func TestExtractBadShard(t *testing.T) {
	ds := synthData(t)
	tmp := fastTempDir(t)
	base := []string{"extract", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--data", filepath.Join(ds, "train"), "--cache-dir", filepath.Join(tmp, "c")}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"index past count", nil, []string{"--shard", "3/3"}, "0..2"},
		{"not i/N", nil, []string{"--shard", "2"}, "i/N"},
		{"completion index without count", []string{"JOB_COMPLETION_INDEX=1"}, nil, "number of shards"},
		{"no data", nil, []string{"--data", ""}, "--data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runBinEnv(t, tmp, tc.env, append(append([]string{}, base...), tc.args...)...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want a failure naming %q\n%s", code, errOut, tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(tmp, "c")); err == nil {
				t.Error("the cache folder was created")
			}
		})
	}
}
