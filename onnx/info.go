package onnx

import "fmt"

// ImageInput describes m's image input (its first input that is not an initializer) as a
// session would adapt it: layout, element type, channels and static sizes.
func ImageInput(m *Model) (InputInfo, error) {
	ins := RealInputs(m.Proto.GetGraph())
	if len(ins) == 0 {
		return InputInfo{}, fmt.Errorf("onnx: %s has no inputs", m.Path)
	}
	info, _, err := imageInput(ins[0])
	return info, err
}

// TensorType returns the element type of tensor name of m ("float32", "float16", ...): from its
// value info, else from onnxruntime's type inference on the graph without its weights. It is ""
// when neither knows.
func TensorType(m *Model, name string) string {
	if et, ok := tensorTypes(m, []string{name})[name]; ok {
		return ElemTypeName(et)
	}
	return ""
}
