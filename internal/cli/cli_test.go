package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/lmpseg/lmpseg/internal/cli"
	"github.com/lmpseg/lmpseg/internal/synth"
)

// Shared state of the package's tests: the lmpseg binary built once by TestMain, and fixtures
// (datasets, a trained run, an exported model) made on first use in one temporary folder.
var (
	binPath  string // the lmpseg binary
	shareDir string // fixtures shared by the tests
	repoRoot string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	dir, err := os.MkdirTemp(sharedTempRoot(), "lmpseg-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	shareDir = dir
	// Subprocesses run in temporary folders, away from third_party/: point them at the library.
	if os.Getenv("ONNXRUNTIME_LIB") == "" {
		lib := filepath.Join(repoRoot, "third_party", "onnxruntime", "lib", "libonnxruntime.so.1.24.1")
		if _, err := os.Stat(lib); err == nil {
			os.Setenv("ONNXRUNTIME_LIB", lib)
		}
	}
	binPath = filepath.Join(dir, "lmpseg")
	args := []string{"build", "-o", binPath}
	if raceBuild {
		args = append(args, "-race")
		os.Setenv("GORACE", "halt_on_error=1 exitcode=66")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building lmpseg: %v\n%s", err, out)
		return 2
	}
	return m.Run()
}

func modelPath(name string) string { return filepath.Join(repoRoot, "testdata", "models", name) }

// result is the outcome of one in-process run of the app.
type result struct {
	err    error
	code   int    // the exit code main would use (0 on success)
	stdout string // App.Writer
	stderr string // App.ErrWriter plus the line main prints for an error
	panic  any
}

// runApp runs lmpseg in-process with args (without the program name), as main does.
func runApp(args ...string) (r result) {
	app := cli.NewApp()
	var out, errb bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errb
	defer func() {
		if p := recover(); p != nil {
			r.panic = p
			r.code = 2
		}
		r.stdout, r.stderr = out.String(), errb.String()
	}()
	err := cli.Run(app, append([]string{"lmpseg"}, args...))
	if err != nil {
		fmt.Fprintln(&errb, "lmpseg:", err)
		r.code = cli.ExitCode(err)
	}
	r.err = err
	return r
}

// mustRun runs lmpseg in-process and fails the test when it fails.
func mustRun(t testing.TB, args ...string) result {
	t.Helper()
	r := runApp(args...)
	if r.panic != nil || r.err != nil {
		t.Fatalf("lmpseg %s: panic %v, err %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.panic, r.err, r.stdout, r.stderr)
	}
	return r
}

// runBin runs the built binary and returns stdout, stderr and the exit code.
func runBin(t testing.TB, dir string, args ...string) (string, string, int) {
	t.Helper()
	return runBinEnv(t, dir, nil, args...)
}

// runBinEnv is runBin with extra KEY=VALUE environment variables.
func runBinEnv(t testing.TB, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %s: %v", binPath, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// Fixtures, each made once.
var (
	dsOnce  sync.Once
	dsDir   string // synth dataset: dsDir/train (6 images) and dsDir/val (3 images), 64x128, 12 classes
	dsErr   error
	runOnce sync.Once
	runDir  string // a short ce run on dsDir with tiny_dyn_s4 feat_s4
	expPath string // its export
	runErr  error
)

// synthData returns a small synthetic dataset in folder layout.
func synthData(t testing.TB) string {
	t.Helper()
	dsOnce.Do(func() {
		dsDir = filepath.Join(shareDir, "ds")
		dsErr = synth.Generate(dsDir, synth.Options{Seed: 3, Train: 6, Val: 3, H: 64, W: 128})
	})
	if dsErr != nil {
		t.Fatalf("synth.Generate: %v", dsErr)
	}
	return dsDir
}

// synthAt generates a synthetic dataset of its own into dir/name and returns its folder.
func synthAt(t testing.TB, dir, name string, o synth.Options) string {
	t.Helper()
	ds := filepath.Join(dir, name)
	if err := synth.Generate(ds, o); err != nil {
		t.Fatal(err)
	}
	return ds
}

// trainArgs are the flags of a quick deterministic run on the synthetic data.
func trainArgs(ds, out string, extra ...string) []string {
	a := []string{"train", "--backbone", modelPath("tiny_dyn_s4.onnx"), "--feature", "feat_s4",
		"--data", filepath.Join(ds, "train"), "--out", out, "--scale", "1,1", "--threads", "1", "--quiet"}
	return append(a, extra...)
}

// trainedRun returns a run folder trained for a few iterations and its exported model.
func trainedRun(t testing.TB) (string, string) {
	t.Helper()
	ds := synthData(t)
	runOnce.Do(func() {
		runDir = filepath.Join(shareDir, "run")
		expPath = filepath.Join(shareDir, "export.onnx")
		r := runApp(trainArgs(ds, runDir, "--iters", "10", "--loss", "ce", "--lr", "0.05", "--val-data", filepath.Join(ds, "val"))...)
		if r.err != nil || r.panic != nil {
			runErr = fmt.Errorf("train: %v %v\n%s", r.err, r.panic, r.stderr)
			return
		}
		r = runApp("export", "--run", runDir, "--out", expPath, "--threads", "1", "--probe", "64x128")
		if r.err != nil || r.panic != nil {
			runErr = fmt.Errorf("export: %v %v\n%s", r.err, r.panic, r.stderr)
		}
	})
	if runErr != nil {
		t.Fatal(runErr)
	}
	return runDir, expPath
}

// copyDir copies a folder tree (regular files and folders only).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		d := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(d, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(d, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fastTempDir returns a temporary folder on /dev/shm when there is one, else in the default
// temporary folder.
// Training writes checkpoints atomically with fsync, which costs about 0.2 s per file on this
// project's disks; a tmpfs keeps the same rename semantics (all that a killed process can
// observe) without the wait.
func fastTempDir(t testing.TB) string {
	t.Helper()
	// Not t.TempDir(): its path holds the test's name, which error messages naming the path
	// would echo, so that a check for a word in the message could pass on the path alone.
	d, err := os.MkdirTemp(sharedTempRoot(), "lmpseg-cli-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// sharedTempRoot is /dev/shm when it is a folder (see fastTempDir), else the default.
func sharedTempRoot() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return ""
}
