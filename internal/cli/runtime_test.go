package cli_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// realLib returns the onnxruntime library the tests use, or skips.
func realLib(t *testing.T) string {
	t.Helper()
	lib := os.Getenv("ONNXRUNTIME_LIB")
	if lib == "" {
		t.Skip("no onnxruntime library (run make onnxruntime)")
	}
	return lib
}

func TestRuntimeCommand(t *testing.T) {
	lib := realLib(t)
	r := mustRun(t, "runtime")
	for _, w := range []string{"--ort-lib", "not given", "ONNXRUNTIME_LIB", "user cache", "system", "using " + lib} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("lmpseg runtime: output lacks %q:\n%s", w, r.stdout)
		}
	}
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so.1.24.1")
	r = runApp("runtime", "--ort-lib", missing)
	if r.err == nil || !strings.Contains(r.stderr, "--ort-lib") || !strings.Contains(r.stderr, "not found") || !strings.Contains(r.stdout, "not searched: --ort-lib is given") {
		t.Errorf("lmpseg runtime --ort-lib MISSING: err %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
}

func TestRuntimeInstallFrom(t *testing.T) {
	lib := realLib(t)
	dir := filepath.Join(t.TempDir(), "ort")
	r := mustRun(t, "runtime", "install", "--dir", dir, "--from", lib, "--quiet")
	got := filepath.Join(dir, "libonnxruntime.so.1.24.1")
	a, err1 := os.ReadFile(lib)
	b, err2 := os.ReadFile(got)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		t.Errorf("installed library differs from %s (%v, %v)", lib, err1, err2)
	}
	if !strings.Contains(r.stdout, got) {
		t.Errorf("output does not name %s:\n%s", got, r.stdout)
	}
	junk := filepath.Join(t.TempDir(), "junk.so")
	writeFile(t, junk, []byte("not onnxruntime"))
	r = runApp("runtime", "install", "--dir", filepath.Join(t.TempDir(), "ort"), "--from", junk, "--quiet")
	if r.err == nil || !strings.Contains(r.stderr, "sha256") || !strings.Contains(r.stderr, "refusing") {
		t.Errorf("install --from junk: err %v\n%s", r.err, r.stderr)
	}
}

// TestBuiltBinaryFromElsewhere places the binary as make build does (bin/lmpseg of a checkout
// whose third_party/ holds the library) and runs it from another folder, with no ONNXRUNTIME_LIB:
// it finds the library beside its own folder; without it, the error names the install command.
func TestBuiltBinaryFromElsewhere(t *testing.T) {
	lib := realLib(t)
	root := t.TempDir()
	exe := filepath.Join(root, "checkout", "bin", "lmpseg")
	projLib := filepath.Join(root, "checkout", "third_party", "onnxruntime", "lib", "libonnxruntime.so.1.24.1")
	elsewhere := filepath.Join(root, "elsewhere")
	for _, d := range []string{filepath.Dir(exe), filepath.Dir(projLib), elsewhere} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(binPath, exe); err != nil {
		writeFile(t, exe, readFile(t, binPath))
		os.Chmod(exe, 0o755)
	}
	if err := os.Symlink(lib, projLib); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(exe, args...)
		cmd.Dir = elsewhere
		cmd.Env = append(os.Environ(), "ONNXRUNTIME_LIB=", "LMPSEG_ORT_LIB=", "LD_LIBRARY_PATH=", "XDG_CACHE_HOME="+filepath.Join(root, "cache"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	model := modelPath("tiny_dyn_s4.onnx")
	out, errs, code := run("runtime")
	if code != 0 || !strings.Contains(out, "using "+projLib) {
		t.Errorf("lmpseg runtime: exit %d\n%s\n%s", code, out, errs)
	}
	if out, errs, code := run("inspect", "--probe", "32x32", model); code != 0 {
		t.Errorf("lmpseg inspect: exit %d\n%s\n%s", code, out, errs)
	}
	os.Remove(projLib)
	out, errs, code = run("runtime")
	if strings.Contains(out, "* ") && strings.Contains(out, "system") && code == 0 {
		t.Skipf("a system onnxruntime is installed; not-found case not checked:\n%s", out)
	}
	if code != 1 || !strings.Contains(errs, "lmpseg runtime install") {
		t.Errorf("lmpseg runtime without a library: exit %d\n%s\n%s", code, out, errs)
	}
	if _, errs, code := run("inspect", "--probe", "32x32", model); code == 0 || !strings.Contains(errs, "lmpseg runtime install") {
		t.Errorf("lmpseg inspect without a library: exit %d\n%s", code, errs)
	}
}
