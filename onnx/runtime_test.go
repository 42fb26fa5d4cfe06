package onnx

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestInitRuntimeIdempotent(t *testing.T) {
	needRuntime(t)
	first, err := InitRuntime("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(filepath.Base(first), "libonnxruntime") {
		t.Errorf("loaded %q, not an onnxruntime library", first)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := InitRuntime("")
			if err != nil || got != first {
				t.Errorf("InitRuntime again: %q, %v; want %q", got, err, first)
			}
		}()
	}
	wg.Wait()
	if RuntimeLoaded() != first {
		t.Errorf("RuntimeLoaded %q, want %q", RuntimeLoaded(), first)
	}
}

// TestInitRuntimeHelper is run in a child process by TestInitRuntimeErrors
// with LMPSEG_ORT_HELPER set; it prints InitRuntime's outcome.
func TestInitRuntimeHelper(t *testing.T) {
	if os.Getenv("LMPSEG_ORT_HELPER") == "" {
		t.Skip("helper process only")
	}
	loaded, err := InitRuntime(os.Getenv("LMPSEG_ORT_ARG"))
	if err != nil {
		os.Stdout.WriteString("ERR " + err.Error() + "\n")
		return
	}
	os.Stdout.WriteString("OK " + loaded + "\n")
}

// helperInit runs InitRuntime in a fresh process (the library can be loaded
// only once per process) from the folder wd with the given environment.
func helperInit(t *testing.T, wd, arg string, env ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return runInitHelper(t, exe, wd, os.Environ(), arg, env)
}

// runInitHelper runs TestInitRuntimeHelper of the test binary exe from the
// folder wd with InitRuntime's argument arg, in the environment base, then
// the helper's variables, then env, and returns the line it printed
// starting "OK " or "ERR ".
func runInitHelper(t *testing.T, exe, wd string, base []string, arg string, env []string) string {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestInitRuntimeHelper$")
	cmd.Dir = wd
	cmd.Env = slices.Concat(base, []string{"LMPSEG_ORT_HELPER=1", "LMPSEG_ORT_ARG=" + arg}, env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "OK ") || strings.HasPrefix(l, "ERR ") {
			return l
		}
	}
	t.Fatalf("helper printed no result:\n%s", out)
	return ""
}

func TestInitRuntimeErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	needRuntime(t)
	lib := RuntimeLoaded()
	tmp := t.TempDir()
	fake := writeFile(t, tmp, "libonnxruntime.so.1.24.1", []byte("not a library"))
	cases := []struct {
		name string
		arg  string
		env  []string
		want []string
	}{
		{"explicit", lib, []string{"ONNXRUNTIME_LIB="}, []string{"OK " + lib}},
		{"env", "", []string{"ONNXRUNTIME_LIB=" + lib}, []string{"OK " + lib}},
		{"flag beats env", lib, []string{"ONNXRUNTIME_LIB=/nonexistent/libonnxruntime.so"}, []string{"OK " + lib}},
		{"missing flag", filepath.Join(tmp, "nope.so"), nil, []string{"ERR onnx:", "nope.so", "--ort-lib", "not found"}},
		{"missing env", "", []string{"ONNXRUNTIME_LIB=" + filepath.Join(tmp, "nope.so")}, []string{"ERR onnx:", "ONNXRUNTIME_LIB", "not found"}},
		{"not a library", fake, nil, []string{"ERR onnx: cannot load onnxruntime library", fake}},
	}
	for _, c := range cases {
		got := helperInit(t, tmp, c.arg, c.env...)
		checkContains(t, c.name, got, c.want)
	}
	// Found through the project folder from the working directory: run in
	// a folder below a copy of third_party/ holding a link to the library.
	proj := filepath.Join(tmp, "proj")
	libDir := filepath.Join(proj, "third_party", "onnxruntime", "lib")
	if err := os.MkdirAll(filepath.Join(proj, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(libDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(lib, filepath.Join(libDir, libFile)); err != nil {
		t.Fatal(err)
	}
	got := helperInit(t, filepath.Join(proj, "sub", "deeper"), "", "ONNXRUNTIME_LIB=")
	if want := "OK " + filepath.Join(libDir, libFile); got != want {
		t.Errorf("project folder: got %q, want %q", got, want)
	}
	// No library anywhere: the message names the install command. Only
	// meaningful when the dynamic loader has no onnxruntime of its own.
	got = helperInit(t, tmp, "", "ONNXRUNTIME_LIB=", "LD_LIBRARY_PATH=")
	if strings.HasPrefix(got, "OK ") {
		t.Logf("a system onnxruntime was found (%s); not-found case not checked", got)
	} else if !strings.Contains(got, `run "make onnxruntime"`) || !strings.Contains(got, "ONNXRUNTIME_LIB") {
		t.Errorf("no library: got %q", got)
	}
}

// fakeLib builds a shared library that looks like onnxruntime of the given
// version (its GetApi serves no API), or skips the test without gcc.
func fakeLib(t *testing.T, dir, version string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: cannot build a fake onnxruntime library")
	}
	src := filepath.Join(dir, "fake.c")
	code := `#include <stddef.h>
typedef struct { const void *(*GetApi)(unsigned); const char *(*GetVersionString)(void); } Base;
static const void *get_api(unsigned v) { (void)v; return NULL; }
static const char *version(void) { return "` + version + `"; }
static const Base base = { get_api, version };
const Base *OrtGetApiBase(void) { return &base; }
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, "libonnxruntime.so."+version)
	if out, err := exec.Command(gcc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Skipf("gcc failed: %v\n%s", err, out)
	}
	return lib
}

func TestInitRuntimeWrongVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	tmp := t.TempDir()
	for _, v := range []string{"1.20.0", "1.25.2"} {
		lib := fakeLib(t, tmp, v)
		for _, env := range [][]string{{"ONNXRUNTIME_LIB=" + lib}} {
			for _, arg := range []string{"", lib} {
				got := helperInit(t, tmp, arg, env...)
				for _, w := range []string{"ERR onnx: wrong onnxruntime version", lib, "onnxruntime " + v, "1.24.x is needed"} {
					if !strings.Contains(got, w) {
						t.Errorf("version %s, arg %q: got %q, want it to contain %q", v, arg, got, w)
					}
				}
			}
		}
	}
}
