package modelgen

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// Testdata returns the models that live in testdata/models, keyed by file name.
func Testdata() map[string]*pb.ModelProto {
	return map[string]*pb.ModelProto{
		"tiny_dyn_s4.onnx":    TinyDynS4(),
		"tiny_static_s8.onnx": TinyStaticS8(),
		"demo_backbone.onnx":  DemoBackbone(),
	}
}

// Marshal encodes m deterministically.
func Marshal(m *pb.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("modelgen: encode %s: %w", m.GetGraph().GetName(), err)
	}
	return b, nil
}

// WriteFile encodes m and writes it to path.
func WriteFile(path string, m *pb.ModelProto) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	return nil
}

// WriteTestdata writes every model of Testdata into dir, creating it when
// missing, and returns the paths written in name order.
func WriteTestdata(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("modelgen: %w", err)
	}
	models := Testdata()
	names := make([]string, 0, len(models))
	for n := range models {
		names = append(names, n)
	}
	sort.Strings(names)
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := WriteFile(p, models[n]); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
