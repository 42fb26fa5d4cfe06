package onnx

import (
	"strconv"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// ElemTypeName names the ONNX TensorProto data type t as Go does where Go
// has the type ("float32", "float64", "int64", "uint8", "bool"), else by its
// ONNX name in lower case ("float16", "bfloat16", "undefined"). A value
// that ONNX does not define is named "type" and its number.
func ElemTypeName(t int32) string {
	switch pb.TensorProto_DataType(t) {
	case pb.TensorProto_FLOAT:
		return "float32"
	case pb.TensorProto_DOUBLE:
		return "float64"
	case pb.TensorProto_FLOAT16:
		return "float16"
	case pb.TensorProto_BFLOAT16:
		return "bfloat16"
	case pb.TensorProto_UNDEFINED:
		return "undefined"
	}
	if s, ok := pb.TensorProto_DataType_name[t]; ok {
		return strings.ToLower(s)
	}
	return "type" + strconv.Itoa(int(t))
}

// IntElemType reports whether the ONNX TensorProto data type t holds whole
// numbers: a signed or unsigned integer of any width, or bool.
func IntElemType(t int32) bool {
	switch pb.TensorProto_DataType(t) {
	case pb.TensorProto_INT8, pb.TensorProto_INT16, pb.TensorProto_INT32, pb.TensorProto_INT64,
		pb.TensorProto_UINT8, pb.TensorProto_UINT16, pb.TensorProto_UINT32, pb.TensorProto_UINT64, pb.TensorProto_BOOL:
		return true
	}
	return false
}
