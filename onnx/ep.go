package onnx

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Provider is an onnxruntime execution provider that Options.Device can
// name. Each one lives in its own file (ep_cpu.go, ep_cuda.go) and registers
// itself with RegisterProvider.
type Provider struct {
	// Name is the device name, for example "cpu" or "cuda".
	Name string
	// Indexed says that the device takes an index, "name:N".
	Indexed bool
	// Append adds the provider to the session options; nil adds nothing
	// (onnxruntime's CPU provider is always there). Its error is
	// returned as is, so it should say what to do.
	Append func(opts *ort.SessionOptions, d DeviceSpec) error
}

// DeviceSpec is a parsed Options.Device, handed to Provider.Append.
type DeviceSpec struct {
	// Device is the string given, "" read as "cpu".
	Device string
	// ID is the device index N of "name:N", -1 when none was given.
	ID int
	// Lib is the path of the onnxruntime library in use.
	Lib string
}

var (
	providersMu sync.RWMutex
	providers   = map[string]Provider{}
)

// RegisterProvider makes p.Name a device that Options.Device accepts. It
// panics when the name is empty, contains ':' or is already registered:
// those are programmer errors.
func RegisterProvider(p Provider) {
	if p.Name == "" || strings.Contains(p.Name, ":") {
		panic(fmt.Sprintf("onnx: bad provider name %q", p.Name))
	}
	providersMu.Lock()
	defer providersMu.Unlock()
	if _, ok := providers[p.Name]; ok {
		panic(fmt.Sprintf("onnx: provider %q registered twice", p.Name))
	}
	providers[p.Name] = p
}

// unregisterProvider removes a provider (tests).
func unregisterProvider(name string) {
	providersMu.Lock()
	defer providersMu.Unlock()
	delete(providers, name)
}

// Devices returns the names of the registered execution providers, sorted:
// the values Options.Device accepts, each also as "name:N" when the
// provider takes an index.
func Devices() []string {
	providersMu.RLock()
	defer providersMu.RUnlock()
	return devicesLocked()
}

// devicesHelp lists the devices for messages: "cpu, cuda[:N]".
func devicesHelp() string {
	providersMu.RLock()
	defer providersMu.RUnlock()
	var s []string
	for _, n := range devicesLocked() {
		if providers[n].Indexed {
			n += "[:N]"
		}
		s = append(s, n)
	}
	return strings.Join(s, ", ")
}

// devicesLocked is Devices for callers holding providersMu.
func devicesLocked() []string {
	return slices.Sorted(maps.Keys(providers))
}

// lookupDevice parses d ("" is "cpu") into its provider and device index
// (-1 when none is given).
func lookupDevice(d string) (Provider, int, error) {
	if d == "" {
		d = "cpu"
	}
	name, idx, hasIdx := strings.Cut(d, ":")
	providersMu.RLock()
	p, ok := providers[name]
	providersMu.RUnlock()
	if !ok {
		return Provider{}, 0, fmt.Errorf("onnx: bad device %q: want one of %s", d, devicesHelp())
	}
	if !hasIdx {
		return p, -1, nil
	}
	if !p.Indexed {
		return Provider{}, 0, fmt.Errorf("onnx: bad device %q: %s takes no device index", d, name)
	}
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 {
		return Provider{}, 0, fmt.Errorf("onnx: bad device %q: want %s:N with N a device index >= 0", d, name)
	}
	return p, n, nil
}
