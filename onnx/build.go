package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// This file holds the small constructors of ONNX protobuf values that the
// code writing graphs (head lowering, export, the model generator) shares.
// Mismatched sizes and unsupported dimension types are programmer errors:
// the functions panic with a message that starts with "onnx:".

// Node returns a node of type op named name with the given inputs, outputs
// and attributes. An empty input name marks an omitted optional input.
func Node(op, name string, in, out []string, attrs ...*pb.AttributeProto) *pb.NodeProto {
	return &pb.NodeProto{Name: name, OpType: op, Input: in, Output: out, Attribute: attrs}
}

// AttrInt returns an INT attribute.
func AttrInt(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INT, I: v}
}

// AttrInts returns an INTS attribute.
func AttrInts(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INTS, Ints: v}
}

// AttrFloat returns a FLOAT attribute.
func AttrFloat(name string, v float32) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_FLOAT, F: v}
}

// AttrString returns a STRING attribute.
func AttrString(name, v string) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_STRING, S: []byte(v)}
}

// Dims converts int sizes to the int64 dimensions of ONNX.
func Dims(d ...int) []int64 {
	out := make([]int64, len(d))
	for i, v := range d {
		out[i] = int64(v)
	}
	return out
}

// checkedNumel returns the product of dims, panicking on negative ones.
func checkedNumel(what, name string, dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			panic(fmt.Sprintf("onnx: %s %s: negative dimension in %v", what, name, dims))
		}
		n *= d
	}
	return n
}

// FloatTensor returns a float32 initializer named name of shape dims with
// vals stored in raw_data, little-endian (the layout every ONNX reader
// accepts and the most compact one). It panics when len(vals) is not the
// product of dims.
func FloatTensor(name string, dims []int64, vals []float32) *pb.TensorProto {
	if n := checkedNumel("FloatTensor", name, dims); n != int64(len(vals)) {
		panic(fmt.Sprintf("onnx: FloatTensor %s: %d values for dims %v", name, len(vals), dims))
	}
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_FLOAT), Dims: append([]int64(nil), dims...), RawData: raw}
}

// Int64Tensor returns an int64 initializer named name of shape dims with
// vals in int64_data. It panics when len(vals) is not the product of dims.
func Int64Tensor(name string, dims []int64, vals []int64) *pb.TensorProto {
	if n := checkedNumel("Int64Tensor", name, dims); n != int64(len(vals)) {
		panic(fmt.Sprintf("onnx: Int64Tensor %s: %d values for dims %v", name, len(vals), dims))
	}
	return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_INT64), Dims: append([]int64(nil), dims...),
		Int64Data: append([]int64(nil), vals...)}
}

// Int64Vector returns the 1-D int64 initializer holding vals, the usual
// form of the shape, axis and index operands of Slice, Reshape and the like.
func Int64Vector(name string, vals ...int64) *pb.TensorProto {
	return Int64Tensor(name, []int64{int64(len(vals))}, vals)
}

// ValueInfo returns the value info of a tensor of element type elem. Each
// dimension is static when it is an int or an int64 and symbolic (a
// dim_param) when it is a string; an empty string leaves the dimension
// unnamed and unknown. Any other type panics.
func ValueInfo(name string, elem pb.TensorProto_DataType, dims ...any) *pb.ValueInfoProto {
	shape := &pb.TensorShapeProto{Dim: make([]*pb.TensorShapeProto_Dimension, 0, len(dims))}
	for _, d := range dims {
		td := &pb.TensorShapeProto_Dimension{}
		switch v := d.(type) {
		case int:
			td.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}
		case int64:
			td.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: v}
		case string:
			if v != "" {
				td.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: v}
			}
		default:
			panic(fmt.Sprintf("onnx: ValueInfo %s: dimension %v of type %T (want int, int64 or string)", name, d, d))
		}
		shape.Dim = append(shape.Dim, td)
	}
	return &pb.ValueInfoProto{Name: name, Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
		TensorType: &pb.TypeProto_Tensor{ElemType: int32(elem), Shape: shape}}}}
}
