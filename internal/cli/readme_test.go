package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeCommands returns the lmpseg command lines of README.md: the lines of its code blocks and
// its inline code spans that start with "lmpseg " and give flags or files, comments dropped.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	b := readFile(t, filepath.Join(repoRoot, "README.md"))
	var cmds []string
	inBlock := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, "lmpseg ") {
				l, _, _ = strings.Cut(l, "#")
				cmds = append(cmds, strings.TrimSpace(l))
			}
			continue
		}
		for _, m := range regexp.MustCompile("`(lmpseg [^`]+)`").FindAllStringSubmatch(line, -1) {
			if strings.Contains(m[1], " --") || strings.Contains(m[1], ".json") {
				cmds = append(cmds, m[1]) // a command, not a mention of one
			}
		}
	}
	return cmds
}

// TestReadmeCommands runs every command the README shows, in the order shown, with its
// placeholders (MODEL.onnx, DIR, RUN, ...) replaced by the test's own small files and its sizes
// scaled down. Commands that need the network, a GPU or minutes (runtime install, demo) and
// generic forms (COMMAND --help) are listed but not run.
func TestReadmeCommands(t *testing.T) {
	ds := synthData(t)
	dir := fastTempDir(t)
	run, model := filepath.Join(dir, "run"), filepath.Join(dir, "model.onnx")
	shards := filepath.Join(dir, "shards")
	os.MkdirAll(shards, 0o755)
	repl := strings.NewReplacer(
		"MODEL.onnx", modelPath("tiny_dyn_s4.onnx"), "EXPORTED.onnx", model, "model.onnx", model,
		"/models/model.onnx", model, "--feature T", "--feature feat_s4", "--trainable-from T", "--trainable-from feat_s4", "--data DIR", "--data "+filepath.Join(ds, "train"),
		"--out DIR", "--out "+filepath.Join(dir, "synth"), "VAL", filepath.Join(ds, "val"), "/data/val", filepath.Join(ds, "val"),
		"RUN", run, "MASKS", filepath.Join(dir, "masks"), "IMAGES...", filepath.Join(ds, "val", "images"),
		"512x1024", "64x128", "--iters 2000", "--iters 2", "/out/", shards+"/", "$JOB_COMPLETION_INDEX", "0",
		"REPORT", filepath.Join(dir, "report"), "CACHE", filepath.Join(dir, "cache"),
	)
	ran := 0
	for _, c := range readmeCommands(t) {
		f := strings.Fields(c)
		switch {
		case len(f) < 2 || f[1] == "COMMAND" || f[1] == "demo" || f[1] == "runtime" && len(f) > 2 && f[2] == "install" || strings.ContainsAny(c, "[]"):
			t.Logf("not run: %s", c)
			continue
		case f[1] == "eval" && len(f) > 2 && f[2] == "merge" && strings.Contains(c, "*"):
			// Shell globs: expand them as the shell would.
			var args []string
			for _, a := range strings.Fields(repl.Replace(c))[1:] {
				if strings.Contains(a, "*") {
					m, _ := filepath.Glob(a)
					args = append(args, m...)
				} else {
					args = append(args, a)
				}
			}
			if len(args) < 3 {
				mustRun(t, "eval", "--run", run, "--data", filepath.Join(ds, "val"), "--threads", "1", "--json", filepath.Join(shards, "shard-0.json"))
				args = append(args, filepath.Join(shards, "shard-0.json"))
			}
			t.Logf("lmpseg %s", strings.Join(args, " "))
			mustRun(t, args...)
			ran++
			continue
		}
		args := strings.Fields(repl.Replace(c))[1:]
		switch args[0] {
		case "train":
			args = append(args, "--threads", "1", "--quiet", "--scale", "1,1")
		case "synth":
			args = append(args, "--train", "2", "--val", "1", "--size", "32x64")
		}
		t.Logf("lmpseg %s", strings.Join(args, " "))
		mustRun(t, args...)
		ran++
	}
	if ran < 6 {
		t.Fatalf("ran %d README commands; the README shows fewer than expected", ran)
	}
}
