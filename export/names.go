package export

import (
	"encoding/json"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// tensorNames returns every value and node name of g, so that added names can avoid them.
func tensorNames(g *pb.GraphProto) map[string]bool {
	n := map[string]bool{}
	for _, v := range g.GetInput() {
		n[v.GetName()] = true
	}
	for _, v := range g.GetOutput() {
		n[v.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		n[t.GetName()] = true
	}
	for _, nd := range g.GetNode() {
		n[nd.GetName()] = true
		for _, o := range nd.GetOutput() {
			n[o] = true
		}
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
