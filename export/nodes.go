package export

import (
	"encoding/json"
	"fmt"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/lmpseg/lmpseg/graph"
)

func node(op, name string, in, out []string, attrs ...*pb.AttributeProto) *pb.NodeProto {
	return &pb.NodeProto{Name: name, OpType: op, Input: in, Output: out, Attribute: attrs}
}

func attrInt(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INT, I: v}
}

func attrInts(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INTS, Ints: v}
}

func attrString(name, v string) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_STRING, S: []byte(v)}
}

func int64Tensor(name string, dims []int64, v ...int64) *pb.TensorProto {
	return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_INT64), Dims: dims, Int64Data: v}
}

func floatTensor(name string, dims []int64, v ...float32) *pb.TensorProto {
	return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_FLOAT), Dims: dims, FloatData: v}
}

func valueInfo(name string, elem pb.TensorProto_DataType, dims ...string) *pb.ValueInfoProto {
	shape := &pb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
	}
	return &pb.ValueInfoProto{Name: name, Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: int32(elem), Shape: shape}}}}
}

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

// tensorFrom views a rank-4 feature tensor as a graph.Tensor, checking its shape.
func tensorFrom(d []float32, shape []int64) (*graph.Tensor, error) {
	if len(shape) != 4 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1 || shape[3] < 1 || int64(len(d)) != shape[0]*shape[1]*shape[2]*shape[3] {
		return nil, fmt.Errorf("shape %v with %d values is not an N x C x H x W tensor", shape, len(d))
	}
	return &graph.Tensor{N: int(shape[0]), C: int(shape[1]), H: int(shape[2]), W: int(shape[3]), Data: d}, nil
}
