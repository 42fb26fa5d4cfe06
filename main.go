// Command lmpseg fine-tunes segmentation heads on ONNX backbones with Loss Max-Pooling,
// evaluates, exports and predicts. See README.md.
package main

import (
	"fmt"
	"os"

	"github.com/lmpseg/lmpseg/internal/cli"
)

func main() {
	if err := cli.Run(cli.NewApp(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "lmpseg:", err)
		os.Exit(cli.ExitCode(err))
	}
}
