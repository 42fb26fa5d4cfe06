package export

import (
	"encoding/json"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/onnx"
)

// tensorNames returns every value name of g (onnx.TensorNames) and every node name, so that the
// names export adds can avoid them.
func tensorNames(g *pb.GraphProto) map[string]bool {
	n := map[string]bool{}
	for _, v := range onnx.TensorNames(g) {
		n[v] = true
	}
	for _, nd := range g.GetNode() {
		n[nd.GetName()] = true
	}
	return n
}

func hasPrefix(names map[string]bool, prefix string) bool {
	for k := range names {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
