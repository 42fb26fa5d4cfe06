package data

import (
	"bytes"
	"testing"
)

// FuzzDecodeLabel checks that DecodeLabel never panics and that what it
// returns is consistent. The seed corpus is in testdata/fuzz/FuzzDecodeLabel.
func FuzzDecodeLabel(f *testing.F) {
	old := MaxPixels
	MaxPixels = 1 << 20 // keep the fuzzer's allocations small
	defer func() { MaxPixels = old }()
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		lab, h, w, err := DecodeLabel(bytes.NewReader(b))
		if err != nil {
			if lab != nil {
				t.Fatal("labels returned with an error")
			}
			return
		}
		if h <= 0 || w <= 0 || len(lab) != h*w {
			t.Fatalf("%d labels for %dx%d", len(lab), w, h)
		}
		for _, v := range lab {
			if v < 0 || v > 65535 {
				t.Fatalf("label value %d", v)
			}
		}
	})
}
