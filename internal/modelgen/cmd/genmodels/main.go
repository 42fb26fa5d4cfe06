// Command genmodels writes the project's generated ONNX models (the tiny test
// backbones and the demo backbone) into a folder. It is run by go generate in
// internal/modelgen.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/lmpseg/lmpseg/internal/modelgen"
)

func main() {
	out := flag.String("out", "testdata/models", "folder to write the models into")
	flag.Parse()
	paths, err := modelgen.WriteTestdata(*out)
	for _, p := range paths {
		fmt.Println("wrote", p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genmodels:", err)
		os.Exit(1)
	}
}
