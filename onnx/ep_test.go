package onnx

import (
	"errors"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

func TestDevices(t *testing.T) {
	d := Devices()
	if !slices.Contains(d, "cpu") || !slices.Contains(d, "cuda") || !slices.IsSorted(d) {
		t.Errorf("Devices() = %v", d)
	}
	cases := []struct {
		dev, name string
		id        int
		err       string
	}{
		{"", "cpu", -1, ""},
		{"cpu", "cpu", -1, ""},
		{"cuda", "cuda", -1, ""},
		{"cuda:2", "cuda", 2, ""},
		{"cpu:1", "", 0, `bad device "cpu:1": cpu takes no device index`},
		{"cuda:-1", "", 0, `bad device "cuda:-1"`},
		{"cuda:x", "", 0, `bad device "cuda:x"`},
		{"tpu", "", 0, `bad device "tpu": want one of cpu, cuda[:N]`},
	}
	for _, c := range cases {
		p, id, err := lookupDevice(c.dev)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.dev, err, c.err)
			}
			continue
		}
		if err != nil || p.Name != c.name || id != c.id {
			t.Errorf("%q: %v %d %v, want %s %d", c.dev, p, id, err, c.name, c.id)
		}
	}
}

// TestRegisterProvider registers a provider that records its calls and
// fails, and checks that a session asks it, with the device index, and
// reports its error.
func TestRegisterProvider(t *testing.T) {
	needRuntime(t)
	var got []int
	RegisterProvider(Provider{Name: "testdev", Indexed: true, Append: func(opts *ort.SessionOptions, d DeviceSpec) error {
		got = append(got, d.ID)
		return errors.New("testdev is not here")
	}})
	defer unregisterProvider("testdev")
	if !slices.Contains(Devices(), "testdev") {
		t.Errorf("Devices() = %v lacks testdev", Devices())
	}
	p := writeModel(t, t.TempDir(), "m.onnx", buildNet(netSpec{channels: []int{4}}))
	_, err := OpenBackbone(p, Options{Device: "testdev:3"})
	if err == nil || !strings.Contains(err.Error(), "testdev is not here") || !strings.Contains(err.Error(), "testdev:3") {
		t.Errorf("error %v", err)
	}
	if !slices.Equal(got, []int{3}) {
		t.Errorf("provider called with %v, want [3]", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering cpu twice did not panic")
		}
	}()
	RegisterProvider(Provider{Name: "cpu"})
}
