package onnx

import (
	"fmt"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// The CUDA provider: "cuda" is GPU 0, "cuda:N" GPU N. It needs a CUDA build
// of onnxruntime.
func init() {
	RegisterProvider(Provider{Name: "cuda", Indexed: true, Append: appendCUDA})
}

func appendCUDA(opts *ort.SessionOptions, d DeviceSpec) error {
	err := func() error {
		co, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return err
		}
		defer co.Destroy()
		if err := co.Update(map[string]string{"device_id": strconv.Itoa(max(d.ID, 0))}); err != nil {
			return err
		}
		return opts.AppendExecutionProviderCUDA(co)
	}()
	if err != nil {
		return fmt.Errorf("onnx: the onnxruntime library %s lacks the CUDA execution provider; --device %s needs a CUDA build of onnxruntime 1.24.x given by --ort-lib or ONNXRUNTIME_LIB (see docs/gpu.md)%s", d.Lib, d.Device, cudaHint(err))
	}
	return nil
}

// cudaHint keeps the one onnxruntime detail worth showing: that a CUDA
// build was found but CUDA itself (driver, libraries, device) failed.
func cudaHint(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "providers_shared") || strings.Contains(msg, "not enabled") {
		return ""
	}
	return " (onnxruntime said: " + trimLines(msg) + ")"
}
