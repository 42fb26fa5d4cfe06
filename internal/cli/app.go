// Package cli holds the lmpseg command-line application: one file per command, shared flag groups
// as variables, and actions that validate their input, call into the packages and return errors.
package cli

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/onnx"
)

// Version is the tool's version, recorded in run folders and exported models.
const Version = "0.1.0"

// NewApp builds the lmpseg application.
func NewApp() *cli.App {
	return &cli.App{
		Name:    "lmpseg",
		Usage:   "fine-tune segmentation heads on ONNX backbones with Loss Max-Pooling",
		Version: Version,
		Description: "lmpseg runs a pretrained ONNX backbone in onnxruntime, trains a new head in Go with\n" +
			"Loss Max-Pooling (or a baseline loss), evaluates with the standard metrics, exports\n" +
			"backbone + head as one ONNX model, and predicts masks.",
		Commands: []*cli.Command{
			inspectCommand,
			trainCommand,
			extractCommand,
			evalCommand,
			exportCommand,
			predictCommand,
			synthCommand,
			demoCommand,
			runtimeCommand,
		},
		HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile (pprof) of the command to this file"},
		},
		Before: func(c *cli.Context) error {
			if p := c.String("cpuprofile"); p != "" {
				f, err := os.Create(p)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return fmt.Errorf("--cpuprofile: %w", err)
				}
			}
			return nil
		},
		After: func(c *cli.Context) error {
			if c.String("cpuprofile") != "" {
				pprof.StopCPUProfile()
			}
			return nil
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main prints the error once and picks the code
	}
}

// exitError carries a specific process exit code (130 on SIGINT, 143 on SIGTERM).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode returns the process exit code for an error returned by the app.
func ExitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

// Shared flag groups.
var (
	ortLibFlag   = &cli.StringFlag{Name: "ort-lib", Usage: "path of libonnxruntime.so (default: $ONNXRUNTIME_LIB, beside the executable, third_party/onnxruntime, the user cache, the system: see 'lmpseg runtime')", EnvVars: []string{"LMPSEG_ORT_LIB"}}
	deviceFlag   = &cli.StringFlag{Name: "device", Value: "cpu", Usage: "where the backbone runs: cpu or cuda[:N]"}
	threadsFlag  = &cli.IntFlag{Name: "threads", Usage: "threads for onnxruntime and the Go kernels (0: all cores)"}
	runtimeFlags = []cli.Flag{ortLibFlag, deviceFlag, threadsFlag}
)

// initRuntime loads onnxruntime as the runtime flags say.
func initRuntime(c *cli.Context) error {
	if n, most := c.Int("threads"), 4*runtime.NumCPU(); n < 0 || n > most {
		return fmt.Errorf("--threads %d: want 0 (all %d cores) to %d", n, runtime.NumCPU(), most)
	}
	_, err := onnx.InitRuntime(c.String("ort-lib"))
	return err
}

func backboneOptions(c *cli.Context, feature string) onnx.Options {
	return onnx.Options{Feature: feature, Device: c.String("device"), Threads: c.Int("threads")}
}

// parseHW parses "HxW" (or a single number for a square).
func parseHW(flag, s string) (int, int, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	a, b, ok := strings.Cut(s, "x")
	if !ok {
		b = a
	}
	h, err1 := strconv.Atoi(a)
	w, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || h <= 0 || w <= 0 {
		return 0, 0, fmt.Errorf("--%s %q: want HxW with positive integers, e.g. 512x1024", flag, s)
	}
	return h, w, nil
}

func fileMustExist(flag, path string) error {
	if path == "" {
		return fmt.Errorf("--%s is required", flag)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("--%s %s: %w", flag, path, errors.Unwrap(err))
	}
	return nil
}
