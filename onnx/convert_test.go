package onnx

import (
	"slices"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// convertCase makes a tensor of T holding 0, 1, 2 and converts it.
func convertCase[T number | float32](t *testing.T) (Output, error) {
	t.Helper()
	x, err := ort.NewTensor(ort.NewShape(1, 3), []T{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Destroy()
	return convertOutput(x)
}

// TestConvertOutputTypes checks the type name, values and shape that
// convertOutput gives a tensor of each element type it takes.
func TestConvertOutputTypes(t *testing.T) {
	needRuntime(t)
	cases := []struct {
		want string
		conv func(*testing.T) (Output, error)
	}{
		{"float32", convertCase[float32]},
		{"float64", convertCase[float64]},
		{"int64", convertCase[int64]},
		{"int32", convertCase[int32]},
		{"uint8", convertCase[uint8]},
		{"int8", convertCase[int8]},
		{"uint16", convertCase[uint16]},
		{"int16", convertCase[int16]},
		{"uint32", convertCase[uint32]},
		{"uint64", convertCase[uint64]},
	}
	for _, c := range cases {
		o, err := c.conv(t)
		if err != nil {
			t.Errorf("%s: %v", c.want, err)
			continue
		}
		if o.Type != c.want || !slices.Equal(o.Data, []float32{0, 1, 2}) || !slices.Equal(o.Shape, []int64{1, 3}) {
			t.Errorf("%s: got type %q, data %v, shape %v", c.want, o.Type, o.Data, o.Shape)
		}
	}
	b, err := ort.NewTensor(ort.NewShape(3), []bool{true, false, true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destroy()
	o, err := convertOutput(b)
	if err != nil || o.Type != "bool" || !slices.Equal(o.Data, []float32{1, 0, 1}) {
		t.Errorf("bool: got %+v, %v", o, err)
	}
}
