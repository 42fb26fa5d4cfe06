package cli

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/onnx"
)

var runtimeCommand = &cli.Command{
	Name:      "runtime",
	Usage:     "show where onnxruntime is looked for and which library is used; 'runtime install' fetches it",
	ArgsUsage: " ",
	Description: "Lists, in search order, every place lmpseg looks for the onnxruntime " + onnx.LibVersion + " library\n" +
		"(--ort-lib, $ONNXRUNTIME_LIB, beside the executable, third_party/ of the working directory, the\n" +
		"user cache where 'lmpseg runtime install' puts it, the system's loader), what is there and why\n" +
		"it is or is not used. Exits 1 when no usable library is found.",
	Flags:       []cli.Flag{ortLibFlag},
	Action:      runRuntime,
	Subcommands: []*cli.Command{runtimeInstallCommand},
}

var runtimeInstallCommand = &cli.Command{
	Name:      "install",
	Usage:     "download onnxruntime " + onnx.LibVersion + " (CPU) into the user cache, where lmpseg finds it",
	ArgsUsage: " ",
	Description: "Fetches the official onnxruntime " + onnx.LibVersion + " release archive, or, when that host cannot be\n" +
		"reached, the onnxruntime-node@" + onnx.LibVersion + " package from the npm registry (which ships the same\n" +
		"library), takes libonnxruntime out of it and keeps it only if its sha256 is the pinned one\n" +
		"(" + onnx.LibSHA256 + ").\n" +
		"The proxy variables (HTTPS_PROXY, NO_PROXY) are honoured. --from copies a library already\n" +
		"downloaded instead, with the same check. Linux x86-64 only; elsewhere install onnxruntime 1.24.x\n" +
		"and set ONNXRUNTIME_LIB.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "dir", Usage: "folder to install into (default: the user cache, " + cacheDirUsage() + ")"},
		&cli.StringFlag{Name: "from", Usage: "copy this library file instead of downloading (it must have the pinned sha256)"},
		&cli.BoolFlag{Name: "force", Usage: "download again even when the library is already installed"},
		quietFlag,
	},
	Action: runRuntimeInstall,
}

func cacheDirUsage() string {
	if d, err := onnx.RuntimeCacheDir(); err == nil {
		return d
	}
	return "os.UserCacheDir()/lmpseg/onnxruntime/" + onnx.LibVersion + "/lib"
}

func runRuntime(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("runtime: unknown argument %q (did you mean 'lmpseg runtime install'?)", c.Args().First())
	}
	cs, err := onnx.SearchRuntime(c.String("ort-lib"))
	w := c.App.Writer
	fmt.Fprintf(w, "lmpseg needs onnxruntime 1.24.x (built against %s); it looks in this order and loads the first usable library:\n", onnx.LibVersion)
	printCandidates(w, cs)
	if err != nil {
		return err
	}
	for _, x := range cs {
		if x.Used {
			fmt.Fprintf(w, "using %s (onnxruntime %s, from %s)\n", x.Path, x.Version, x.Source)
		}
	}
	return nil
}

// printCandidates writes one line per candidate: number, source, path and reason.
func printCandidates(w io.Writer, cs []onnx.RuntimeCandidate) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, x := range cs {
		p := x.Path
		if p == "" {
			p = "-"
		}
		mark := " "
		if x.Used {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s%2d\t%s\t%s\t%s\n", mark, i+1, x.Source, p, x.Reason)
	}
	tw.Flush()
}

func runRuntimeInstall(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("runtime install: unknown argument %q", c.Args().First())
	}
	quiet := c.Bool("quiet")
	ew := c.App.ErrWriter
	o := onnx.InstallOptions{Dir: c.String("dir"), From: c.String("from"), Force: c.Bool("force")}
	if !quiet {
		o.Log = func(format string, args ...any) { fmt.Fprintf(ew, format+"\n", args...) }
		o.Progress = func(total int64, name string) io.Writer { return downloadBar(ew, total, name) }
	}
	ctx, _, stop := signalContext()
	defer stop()
	lib, err := onnx.InstallRuntime(ctx, o)
	if err != nil {
		return err
	}
	sum, err := onnx.Sha256(lib)
	if err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "onnxruntime %s is in %s (sha256 %s)\n", onnx.LibVersion, lib, sum)
	// Say whether a plain lmpseg run finds it.
	cs, serr := onnx.SearchRuntime("")
	for _, x := range cs {
		if !x.Used {
			continue
		}
		if same(x.Path, lib) {
			fmt.Fprintln(w, "lmpseg finds it there (see 'lmpseg runtime')")
		} else {
			fmt.Fprintf(w, "note: lmpseg uses %s (from %s) before it; see 'lmpseg runtime'\n", x.Path, x.Source)
		}
		return nil
	}
	if serr != nil {
		fmt.Fprintf(w, "note: lmpseg does not look in %s; set ONNXRUNTIME_LIB=%s or pass --ort-lib\n", lib, lib)
	}
	return nil
}

// same reports whether two paths name one file.
func same(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// exitingBar is a download bar that keeps its state when closed (a progress bar's Close would
// fill it, but a download stops once the library is read, before the end of the archive).
type exitingBar struct{ *progressbar.ProgressBar }

func (b exitingBar) Close() error { return b.Exit() }

// downloadBar shows a download's progress: a byte bar on a terminal, one line otherwise.
func downloadBar(w io.Writer, total int64, name string) io.Writer {
	if !isTerminal(w) {
		size := "unknown size"
		if total > 0 {
			size = fmt.Sprintf("%.1f MB", float64(total)/1e6)
		}
		fmt.Fprintf(w, "downloading %s (%s)\n", name, size)
		return nil
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(name),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	return exitingBar{bar}
}
