package onnx

import (
	"io"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzDecode checks that Decode, and what is done with a model it accepts
// (description, cut, save encoding), never panics. Seeds are in
// testdata/fuzz/FuzzDecode; more are added here.
func FuzzDecode(f *testing.F) {
	for _, s := range []netSpec{{channels: []int{2}}, {static: []int64{1, 3, 8, 8}, channels: []int{2, 3}, extraInt: true}} {
		b, err := proto.Marshal(buildNet(s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/3])
	}
	f.Add(pngHeader)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		mp, err := Decode(b)
		if err != nil {
			if mp != nil {
				t.Fatal("Decode returned a model with an error")
			}
			return
		}
		if err := Validate(mp); err != nil {
			t.Fatalf("Decode accepted a model that Validate rejects: %v", err)
		}
		m := &Model{Proto: mp}
		r := Describe(m)
		if r.Nodes != len(mp.GetGraph().GetNode()) {
			t.Fatal("Describe miscounted nodes")
		}
		if err := r.Print(io.Discard); err != nil {
			t.Fatal(err)
		}
		_ = imageTensors(mp.GetGraph(), "")
		names := TensorNames(mp.GetGraph())
		if len(names) > 0 {
			if _, err := Cut(m, names[len(names)-1]); err != nil {
				t.Fatalf("Cut at an existing tensor: %v", err)
			}
		}
		if _, err := Cut(m, "\x00no such tensor"); err == nil && !hasValue(mp.GetGraph(), "\x00no such tensor") {
			t.Fatal("Cut at a missing tensor succeeded")
		}
		if _, err := m.Marshal(); err != nil {
			t.Fatalf("re-encoding failed: %v", err)
		}
		_ = externalTensors(mp)
		_ = Opset(mp)
	})
}
