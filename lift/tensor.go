package lift

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/lmpseg/lmpseg/onnx"
)

// value is a small tensor of the shape subgraph or a constant: its
// dimensions, values in float64 and whether its element type is an
// integer (int64, int32 and the like) or bool.
type value struct {
	dims  []int64
	v     []float64
	isInt bool
	dtype int32
}

func (v *value) numel() int {
	n := 1
	for _, d := range v.dims {
		n *= int(d)
	}
	return n
}

// rawBytes returns the raw little-endian bytes of t: its raw_data, or its
// external data read relative to dir; nil when the values are in a typed
// field.
func rawBytes(t *pb.TensorProto, dir string) ([]byte, error) {
	if t.GetDataLocation() != pb.TensorProto_EXTERNAL {
		return t.GetRawData(), nil
	}
	var loc string
	off, length := int64(0), int64(-1)
	for _, e := range t.GetExternalData() {
		switch e.GetKey() {
		case "location":
			loc = e.GetValue()
		case "offset":
			off, _ = strconv.ParseInt(e.GetValue(), 10, 64)
		case "length":
			length, _ = strconv.ParseInt(e.GetValue(), 10, 64)
		}
	}
	if loc == "" {
		return nil, fmt.Errorf("lift: tensor %q is external without a location", t.GetName())
	}
	if dir == "" && !filepath.IsAbs(loc) {
		return nil, fmt.Errorf("lift: tensor %q is in external file %s but the model has no path", t.GetName(), loc)
	}
	p := loc
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, filepath.FromSlash(loc))
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("lift: external data of tensor %q: %w", t.GetName(), err)
	}
	defer f.Close()
	if length < 0 {
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("lift: external data of tensor %q: %w", t.GetName(), err)
		}
		length = fi.Size() - off
	}
	if off < 0 || length < 0 {
		return nil, fmt.Errorf("lift: tensor %q: bad external offset %d or length %d", t.GetName(), off, length)
	}
	b := make([]byte, length)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("lift: external data of tensor %q: %w", t.GetName(), err)
	}
	return b, nil
}

// decodeTensor returns the values of t (float, double, float16 or an
// integer type).
func decodeTensor(t *pb.TensorProto, dir string) (*value, error) {
	v := &value{dims: append([]int64(nil), t.GetDims()...), dtype: t.GetDataType(), isInt: onnx.IntElemType(t.GetDataType())}
	n := 1
	for _, d := range v.dims {
		if d < 0 || (d > 0 && n > math.MaxInt32/int(d)) {
			return nil, fmt.Errorf("lift: tensor %q has shape %v", t.GetName(), t.GetDims())
		}
		n *= int(d)
	}
	raw, err := rawBytes(t, dir)
	if err != nil {
		return nil, err
	}
	bad := func(have int) error {
		return fmt.Errorf("lift: tensor %q of shape %v holds %d values", t.GetName(), t.GetDims(), have)
	}
	dt := pb.TensorProto_DataType(t.GetDataType())
	typed := map[pb.TensorProto_DataType]int{pb.TensorProto_FLOAT: len(t.FloatData), pb.TensorProto_DOUBLE: len(t.DoubleData),
		pb.TensorProto_INT64: len(t.Int64Data), pb.TensorProto_UINT64: len(t.Uint64Data), pb.TensorProto_UINT32: len(t.Uint64Data)}
	if raw == nil {
		have, ok := typed[dt]
		if !ok {
			have = len(t.Int32Data)
		}
		if have != n {
			return nil, bad(have)
		}
	}
	v.v = make([]float64, n)
	if raw != nil {
		size := map[pb.TensorProto_DataType]int{pb.TensorProto_FLOAT: 4, pb.TensorProto_DOUBLE: 8, pb.TensorProto_FLOAT16: 2,
			pb.TensorProto_INT64: 8, pb.TensorProto_INT32: 4, pb.TensorProto_INT16: 2, pb.TensorProto_INT8: 1,
			pb.TensorProto_UINT8: 1, pb.TensorProto_UINT16: 2, pb.TensorProto_UINT32: 4, pb.TensorProto_UINT64: 8, pb.TensorProto_BOOL: 1}[dt]
		if size == 0 {
			return nil, fmt.Errorf("lift: tensor %q has element type %s", t.GetName(), dt)
		}
		if len(raw) != size*n {
			return nil, bad(len(raw) / size)
		}
		le := binary.LittleEndian
		for i := range v.v {
			b := raw[i*size:]
			switch dt {
			case pb.TensorProto_FLOAT:
				v.v[i] = float64(math.Float32frombits(le.Uint32(b)))
			case pb.TensorProto_DOUBLE:
				v.v[i] = math.Float64frombits(le.Uint64(b))
			case pb.TensorProto_FLOAT16:
				v.v[i] = float64(halfToFloat(le.Uint16(b)))
			case pb.TensorProto_INT64:
				v.v[i] = float64(int64(le.Uint64(b)))
			case pb.TensorProto_INT32:
				v.v[i] = float64(int32(le.Uint32(b)))
			case pb.TensorProto_INT16:
				v.v[i] = float64(int16(le.Uint16(b)))
			case pb.TensorProto_INT8:
				v.v[i] = float64(int8(b[0]))
			case pb.TensorProto_UINT8, pb.TensorProto_BOOL:
				v.v[i] = float64(b[0])
			case pb.TensorProto_UINT16:
				v.v[i] = float64(le.Uint16(b))
			case pb.TensorProto_UINT32:
				v.v[i] = float64(le.Uint32(b))
			case pb.TensorProto_UINT64:
				v.v[i] = float64(le.Uint64(b))
			}
		}
		return v, nil
	}
	switch dt {
	case pb.TensorProto_FLOAT:
		if len(t.FloatData) != n {
			return nil, bad(len(t.FloatData))
		}
		for i, x := range t.FloatData {
			v.v[i] = float64(x)
		}
	case pb.TensorProto_DOUBLE:
		if len(t.DoubleData) != n {
			return nil, bad(len(t.DoubleData))
		}
		copy(v.v, t.DoubleData)
	case pb.TensorProto_INT64:
		if len(t.Int64Data) != n {
			return nil, bad(len(t.Int64Data))
		}
		for i, x := range t.Int64Data {
			v.v[i] = float64(x)
		}
	case pb.TensorProto_UINT64, pb.TensorProto_UINT32:
		if len(t.Uint64Data) != n {
			return nil, bad(len(t.Uint64Data))
		}
		for i, x := range t.Uint64Data {
			v.v[i] = float64(x)
		}
	case pb.TensorProto_INT32, pb.TensorProto_INT16, pb.TensorProto_INT8, pb.TensorProto_UINT8, pb.TensorProto_UINT16, pb.TensorProto_BOOL, pb.TensorProto_FLOAT16:
		if len(t.Int32Data) != n {
			return nil, bad(len(t.Int32Data))
		}
		for i, x := range t.Int32Data {
			if dt == pb.TensorProto_FLOAT16 {
				v.v[i] = float64(halfToFloat(uint16(x)))
			} else {
				v.v[i] = float64(x)
			}
		}
	default:
		return nil, fmt.Errorf("lift: tensor %q has element type %s", t.GetName(), dt)
	}
	return v, nil
}

// halfToFloat converts IEEE half-precision bits to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0:
		f := float32(frac) / 1024 * float32(math.Pow(2, -14))
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}

// f32 returns the values of v as float32.
func (v *value) f32() []float32 {
	out := make([]float32, len(v.v))
	for i, x := range v.v {
		out[i] = float32(x)
	}
	return out
}

// ints returns the values of v as int64.
func (v *value) ints() []int64 {
	out := make([]int64, len(v.v))
	for i, x := range v.v {
		out[i] = int64(x)
	}
	return out
}

// encodeValue returns v as an initializer named name of v's element type
// (int64 for integers of other types, float32 for floats other than
// double).
func encodeValue(name string, v *value) *pb.TensorProto {
	dims := append([]int64(nil), v.dims...)
	if v.isInt {
		if pb.TensorProto_DataType(v.dtype) == pb.TensorProto_INT32 {
			d := make([]int32, len(v.v))
			for i, x := range v.v {
				d[i] = int32(x)
			}
			return &pb.TensorProto{Name: name, DataType: v.dtype, Dims: dims, Int32Data: d}
		}
		return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_INT64), Dims: dims, Int64Data: v.ints()}
	}
	if pb.TensorProto_DataType(v.dtype) == pb.TensorProto_DOUBLE {
		return &pb.TensorProto{Name: name, DataType: v.dtype, Dims: dims, DoubleData: append([]float64(nil), v.v...)}
	}
	return &pb.TensorProto{Name: name, DataType: int32(pb.TensorProto_FLOAT), Dims: dims, FloatData: v.f32()}
}
