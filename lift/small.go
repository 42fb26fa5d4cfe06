package lift

import (
	"fmt"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/lmpseg/lmpseg/onnx"
)

// The shape subgraph (Shape, Gather, Unsqueeze, Concat of shapes, Slice,
// Cast, Constant and the arithmetic exporters put around them) is
// evaluated on small values during every forward pass, from the shapes of
// the tensors it reads: for a fixed input size that is constant folding.

// smallOps are the operators evaluated on small values. Shape is handled
// by the caller (it reads a tensor's shape).
var smallOps = map[string]bool{
	"Shape": true, "Constant": true, "Gather": true, "Unsqueeze": true, "Squeeze": true, "Concat": true,
	"Slice": true, "Cast": true, "Identity": true, "Mul": true, "Add": true, "Sub": true, "Div": true,
	"Floor": true, "Ceil": true, "Reshape": true,
}

func attr(n *pb.NodeProto, name string) *pb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func attrInt(n *pb.NodeProto, name string, def int64) int64 {
	if a := attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

func attrFloat(n *pb.NodeProto, name string, def float32) float32 {
	if a := attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

func attrString(n *pb.NodeProto, name, def string) string {
	if a := attr(n, name); a != nil {
		return string(a.GetS())
	}
	return def
}

func attrInts(n *pb.NodeProto, name string) []int64 {
	if a := attr(n, name); a != nil {
		return a.GetInts()
	}
	return nil
}

// constantValue returns the value of a Constant node.
func constantValue(n *pb.NodeProto, dir string) (*value, error) {
	for _, a := range n.GetAttribute() {
		switch a.GetName() {
		case "value":
			return decodeTensor(a.GetT(), dir)
		case "value_float":
			return &value{v: []float64{float64(a.GetF())}, dtype: int32(pb.TensorProto_FLOAT)}, nil
		case "value_floats":
			v := &value{dims: []int64{int64(len(a.GetFloats()))}, dtype: int32(pb.TensorProto_FLOAT)}
			for _, f := range a.GetFloats() {
				v.v = append(v.v, float64(f))
			}
			return v, nil
		case "value_int":
			return &value{v: []float64{float64(a.GetI())}, isInt: true, dtype: int32(pb.TensorProto_INT64)}, nil
		case "value_ints":
			v := &value{dims: []int64{int64(len(a.GetInts()))}, isInt: true, dtype: int32(pb.TensorProto_INT64), v: []float64{}}
			for _, i := range a.GetInts() {
				v.v = append(v.v, float64(i))
			}
			return v, nil
		}
	}
	return nil, fmt.Errorf("lift: Constant node %q has no supported value attribute", n.GetName())
}

// shapeValue is the int64 vector Shape returns for dims, with the opset-15
// start and end attributes.
func shapeValue(n *pb.NodeProto, dims []int64) *value {
	r := int64(len(dims))
	clampIdx := func(i int64) int64 {
		if i < 0 {
			i += r
		}
		return min(max(i, 0), r)
	}
	s, e := clampIdx(attrInt(n, "start", 0)), clampIdx(attrInt(n, "end", r))
	v := &value{isInt: true, dtype: int32(pb.TensorProto_INT64), v: []float64{}}
	for i := s; i < e; i++ {
		v.v = append(v.v, float64(dims[i]))
	}
	v.dims = []int64{int64(len(v.v))}
	return v
}

func scalarOrVector(v *value) bool { return len(v.dims) <= 1 }

// evalSmall evaluates node n (not Shape) on the small values ins (nil for
// omitted optional inputs).
func evalSmall(n *pb.NodeProto, ins []*value, opset int64, dir string) (*value, error) {
	op := n.GetOpType()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("lift: node %q (%s): "+format, append([]any{n.GetName(), op}, args...)...)
	}
	in := func(i int) *value {
		if i < len(ins) {
			return ins[i]
		}
		return nil
	}
	if op != "Constant" && in(0) == nil {
		return nil, fail("missing input")
	}
	if (op == "Gather" || op == "Mul" || op == "Add" || op == "Sub" || op == "Div") && in(1) == nil {
		return nil, fail("missing input")
	}
	switch op {
	case "Constant":
		return constantValue(n, dir)
	case "Identity":
		return in(0), nil
	case "Cast":
		x := in(0)
		to := int32(attrInt(n, "to", int64(pb.TensorProto_FLOAT)))
		out := &value{dims: x.dims, isInt: onnx.IntElemType(to), dtype: to, v: make([]float64, len(x.v))}
		for i, f := range x.v {
			if out.isInt {
				out.v[i] = math.Trunc(f)
			} else if pb.TensorProto_DataType(to) == pb.TensorProto_FLOAT {
				out.v[i] = float64(float32(f))
			} else {
				out.v[i] = f
			}
		}
		return out, nil
	case "Floor", "Ceil":
		x := in(0)
		out := &value{dims: x.dims, isInt: x.isInt, dtype: x.dtype, v: make([]float64, len(x.v))}
		for i, f := range x.v {
			if op == "Floor" {
				out.v[i] = math.Floor(f)
			} else {
				out.v[i] = math.Ceil(f)
			}
		}
		return out, nil
	case "Mul", "Add", "Sub", "Div":
		a, b := in(0), in(1)
		if a == nil || b == nil || !scalarOrVector(a) || !scalarOrVector(b) {
			return nil, fail("arithmetic on small values of rank above 1")
		}
		na, nb := len(a.v), len(b.v)
		n := max(na, nb)
		if (na != n && na != 1) || (nb != n && nb != 1) {
			return nil, fail("values of %d and %d elements do not broadcast", na, nb)
		}
		dims := a.dims
		if len(b.dims) > len(dims) || nb > na {
			dims = b.dims
		}
		out := &value{dims: dims, isInt: a.isInt && b.isInt, dtype: a.dtype, v: make([]float64, n)}
		for i := range out.v {
			x, y := a.v[min(i, na-1)], b.v[min(i, nb-1)]
			switch op {
			case "Mul":
				out.v[i] = x * y
			case "Add":
				out.v[i] = x + y
			case "Sub":
				out.v[i] = x - y
			case "Div":
				if out.isInt {
					if y == 0 {
						return nil, fail("integer division by zero")
					}
					out.v[i] = math.Trunc(x / y)
				} else {
					out.v[i] = x / y
				}
			}
			if !out.isInt && pb.TensorProto_DataType(out.dtype) == pb.TensorProto_FLOAT {
				out.v[i] = float64(float32(out.v[i]))
			}
		}
		return out, nil
	case "Unsqueeze", "Squeeze":
		x := in(0)
		axes := attrInts(n, "axes")
		if opset >= 13 && in(1) != nil {
			axes = in(1).ints()
		}
		if op == "Unsqueeze" {
			r := int64(len(x.dims) + len(axes))
			dims := make([]int64, 0, r)
			set := map[int64]bool{}
			for _, a := range axes {
				if a < 0 {
					a += r
				}
				set[a] = true
			}
			k := 0
			for i := int64(0); i < r; i++ {
				if set[i] {
					dims = append(dims, 1)
				} else {
					if k >= len(x.dims) {
						return nil, fail("bad axes %v", axes)
					}
					dims = append(dims, x.dims[k])
					k++
				}
			}
			return &value{dims: dims, v: x.v, isInt: x.isInt, dtype: x.dtype}, nil
		}
		r := int64(len(x.dims))
		set := map[int64]bool{}
		for _, a := range axes {
			if a < 0 {
				a += r
			}
			set[a] = true
		}
		var dims []int64
		for i, d := range x.dims {
			if (len(axes) == 0 && d == 1) || set[int64(i)] {
				continue
			}
			dims = append(dims, d)
		}
		return &value{dims: dims, v: x.v, isInt: x.isInt, dtype: x.dtype}, nil
	case "Reshape":
		x, s := in(0), in(1)
		if s == nil {
			return nil, fail("no shape input")
		}
		dims := s.ints()
		known, neg := int64(1), -1
		for i, d := range dims {
			switch {
			case d == 0 && i < len(x.dims):
				dims[i] = x.dims[i]
				known *= dims[i]
			case d == -1:
				neg = i
			default:
				known *= d
			}
		}
		if neg >= 0 && known > 0 {
			dims[neg] = int64(len(x.v)) / known
		}
		return &value{dims: dims, v: x.v, isInt: x.isInt, dtype: x.dtype}, nil
	case "Concat":
		var out *value
		for _, x := range ins {
			if x == nil {
				continue
			}
			if len(x.dims) != 1 {
				return nil, fail("concat of small values of rank %d", len(x.dims))
			}
			if out == nil {
				out = &value{isInt: x.isInt, dtype: x.dtype, v: []float64{}}
			}
			out.v = append(out.v, x.v...)
		}
		if out == nil {
			return nil, fail("no inputs")
		}
		out.dims = []int64{int64(len(out.v))}
		return out, nil
	case "Gather":
		x, idx := in(0), in(1)
		if len(x.dims) != 1 {
			return nil, fail("gather from a small value of rank %d", len(x.dims))
		}
		if ax := attrInt(n, "axis", 0); ax != 0 && ax != -1 {
			return nil, fail("gather along axis %d of a vector", ax)
		}
		out := &value{dims: idx.dims, isInt: x.isInt, dtype: x.dtype, v: make([]float64, len(idx.v))}
		for i, f := range idx.v {
			k := int(f)
			if k < 0 {
				k += len(x.v)
			}
			if k < 0 || k >= len(x.v) {
				return nil, fail("index %d out of range for %d values", int(f), len(x.v))
			}
			out.v[i] = x.v[k]
		}
		return out, nil
	case "Slice":
		x := in(0)
		if len(x.dims) != 1 {
			return nil, fail("slice of a small value of rank %d", len(x.dims))
		}
		var starts, ends, axes, steps []int64
		if opset < 10 {
			starts, ends, axes = attrInts(n, "starts"), attrInts(n, "ends"), attrInts(n, "axes")
		} else {
			if in(1) == nil || in(2) == nil {
				return nil, fail("missing starts or ends")
			}
			starts, ends = in(1).ints(), in(2).ints()
			if in(3) != nil {
				axes = in(3).ints()
			}
			if in(4) != nil {
				steps = in(4).ints()
			}
		}
		if len(starts) != 1 || len(ends) != 1 || (len(axes) > 0 && (len(axes) != 1 || (axes[0] != 0 && axes[0] != -1))) {
			return nil, fail("slice of a vector along other axes")
		}
		step := int64(1)
		if len(steps) == 1 {
			step = steps[0]
		}
		if step == 0 {
			return nil, fail("step 0")
		}
		r := int64(len(x.v))
		s, e := starts[0], ends[0]
		if s < 0 {
			s += r
		}
		if e < 0 {
			e += r
		}
		out := &value{isInt: x.isInt, dtype: x.dtype, v: []float64{}}
		if step > 0 {
			s, e = min(max(s, 0), r), min(max(e, 0), r)
			for i := s; i < e; i += step {
				out.v = append(out.v, x.v[i])
			}
		} else {
			s, e = min(max(s, -1), r-1), min(max(e, -1), r-1)
			for i := s; i > e; i += step {
				out.v = append(out.v, x.v[i])
			}
		}
		out.dims = []int64{int64(len(out.v))}
		return out, nil
	}
	return nil, fail("not a shape operator")
}
