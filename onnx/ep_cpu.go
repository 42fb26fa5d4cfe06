package onnx

// The CPU provider is onnxruntime's default: nothing is appended.
func init() {
	RegisterProvider(Provider{Name: "cpu"})
}
