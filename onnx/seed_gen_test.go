package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestWriteFuzzSeeds rewrites the FuzzDecode seed corpus when
// LMPSEG_WRITE_SEEDS is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LMPSEG_WRITE_SEEDS") == "" {
		t.Skip("set LMPSEG_WRITE_SEEDS=1 to rewrite testdata/fuzz/FuzzDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	seeds := map[string][]byte{}
	for i, s := range []netSpec{{channels: []int{1}}, {channels: []int{2, 2}, extraInt: true}, {static: []int64{1, 3, 4, 4}, channels: []int{1}, opset: 13}} {
		b, err := proto.Marshal(buildNet(s))
		if err != nil {
			t.Fatal(err)
		}
		seeds[fmt.Sprintf("valid%d", i)] = b
		seeds[fmt.Sprintf("truncated%d", i)] = b[:len(b)*2/3]
	}
	seeds["png"] = pngHeader
	seeds["empty"] = nil
	for n, b := range seeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
