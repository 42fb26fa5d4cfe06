package graph

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCheckpointRoundTrip(t *testing.T) {
	specs := []HeadSpec{
		{Kind: "linear", InChannels: 8, Classes: 3},
		{Kind: "fcn", InChannels: 6, Classes: 4, Hidden: 5, Dropout: 0.2},
	}
	for _, k := range HeadKinds() {
		specs = append(specs, headExamples[k]...)
	}
	for _, s := range specs {
		rng := rand.New(rand.NewPCG(1, 1))
		h, err := NewHead(s, 3)
		if err != nil {
			t.Fatal(err)
		}
		h.Forward(randTensor(rng, 2, s.InChannels, 4, 4, 1), true) // move BN stats
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var g Head
		if err := g.UnmarshalBinary(b); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if g.Spec() != h.Spec() {
			t.Errorf("spec %+v, want %+v", g.Spec(), h.Spec())
		}
		a, c := append(h.Params(), h.Buffers()...), append(g.Params(), g.Buffers()...)
		if len(a) != len(c) {
			t.Fatalf("%+v: %d tensors after round trip, want %d", s, len(c), len(a))
		}
		for i := range a {
			if a[i].Name != c[i].Name || maxAbsDiff(a[i].Data, c[i].Data) != 0 {
				t.Errorf("%+v: tensor %s differs after round trip", s, a[i].Name)
			}
		}
		x := randTensor(rng, 1, s.InChannels, 3, 3, 1)
		if d := maxAbsDiff(h.Forward(x, false).Data, g.Forward(x, false).Data); d != 0 {
			t.Errorf("%+v: restored head output differs by %g", s, d)
		}
	}
}

func TestCheckpointCorrupt(t *testing.T) {
	h, _ := NewHead(HeadSpec{Kind: "fcn", InChannels: 3, Classes: 2, Hidden: 4}, 1)
	good, _ := h.MarshalBinary()
	resum := func(b []byte) []byte {
		b = append([]byte(nil), b[:len(b)-4]...)
		return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	}
	flip := func(i int) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= 0x40
		return b
	}
	cases := map[string][]byte{
		"empty":          nil,
		"magic":          flip(0),
		"checksum":       flip(len(good) / 2),
		"truncated":      good[:len(good)-9],
		"version":        resum(flip(8)),
		"spec length":    resum(flip(13)),
		"spec json":      resum(flip(17)),
		"trailing bytes": resum(append(append([]byte(nil), good[:len(good)-4]...), 0, 0, 0, 0, 0)),
	}
	spec, _ := json.Marshal(h.Spec())
	cases["count"] = resum(flip(16 + len(spec)))
	cases["name"] = resum(flip(16 + len(spec) + 4 + 4))
	// A valid spec claiming a huge head must fail before allocating it.
	big, _ := json.Marshal(HeadSpec{Kind: "fcn", InChannels: 60000, Classes: 60000, Hidden: 60000})
	hb := append([]byte(ckptMagic), 1, 0, 0, 0)
	hb = binary.LittleEndian.AppendUint32(hb, uint32(len(big)))
	hb = append(hb, big...)
	cases["huge spec"] = resum(append(hb, 0, 0, 0, 0, 0, 0, 0, 0))
	// Every truncation with a valid checksum must fail cleanly too.
	for cut := 12; cut < len(good)-4; cut += 7 {
		b := resum(append(append([]byte(nil), good[:cut]...), 0, 0, 0, 0))
		if err := new(Head).UnmarshalBinary(b); !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("truncated at %d: error %v", cut, err)
		}
	}
	for name, b := range cases {
		g := &Head{}
		if err := g.UnmarshalBinary(b); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: error %v, want ErrCheckpoint", name, err)
		}
		if g.layers != nil {
			t.Errorf("%s: head modified on error", name)
		}
	}
}

func FuzzUnmarshalHead(f *testing.F) {
	for _, s := range []HeadSpec{{Kind: KindLinear, InChannels: 2, Classes: 2}, {Kind: KindFCN, InChannels: 2, Classes: 2, Hidden: 3}} {
		h, _ := NewHead(s, 1)
		b, _ := h.MarshalBinary()
		f.Add(b)
	}
	built, _ := NewHead(HeadSpec{Kind: KindFCN, InChannels: 2, Classes: 2, Hidden: 3}, 1)
	f.Fuzz(func(t *testing.T, b []byte) {
		var g Head
		if g.UnmarshalBinary(b) == nil {
			// A head loaded from arbitrary bytes must run without panicking
			// on input it accepts.
			x := NewTensor(1, g.Spec().InChannels, 2, 2)
			if g.CheckInput(x.C) == nil && g.Spec().InChannels <= 64 && g.Spec().Hidden <= 64 && g.Spec().Classes <= 64 {
				g.SetThreads(1)
				g.Forward(x, false)
			}
		}
		h := *built
		_ = h.UnmarshalBinary(b)
	})
}

// TestCheckpointOtherHead checks that a built head refuses a checkpoint of
// another head with an error naming both, that the zero Head takes it, and
// that a checkpoint whose tensors do not fit its own spec is refused.
func TestCheckpointOtherHead(t *testing.T) {
	blob := func(s HeadSpec) []byte {
		h, err := NewHead(s, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base := HeadSpec{Kind: KindFCN, InChannels: 24, Classes: 3, Hidden: 8}
	others := []HeadSpec{
		{Kind: KindFCN, InChannels: 128, Classes: 3, Hidden: 8},
		{Kind: KindFCN, InChannels: 24, Classes: 4, Hidden: 8},
		{Kind: KindFCN, InChannels: 24, Classes: 3, Hidden: 9},
		{Kind: KindFCN, InChannels: 24, Classes: 3, Hidden: 8, Dropout: 0.5},
		{Kind: KindLinear, InChannels: 24, Classes: 3},
	}
	for _, o := range others {
		h, _ := NewHead(base, 1)
		before, _ := h.MarshalBinary()
		err := h.UnmarshalBinary(blob(o))
		if !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%+v into %+v: error %v, want ErrCheckpoint", o, base, err)
			continue
		}
		on, _, _ := o.normalized()
		if !strings.Contains(err.Error(), on.describe()) || !strings.Contains(err.Error(), h.Spec().describe()) {
			t.Errorf("%+v into %+v: error %q does not describe both heads", o, base, err)
		}
		if after, _ := h.MarshalBinary(); !bytes.Equal(before, after) {
			t.Errorf("%+v into %+v: head modified on error", o, base)
		}
	}
	// The zero Head takes any valid checkpoint; CheckInput then reports
	// the features it needs instead of Forward panicking.
	var g Head
	if err := g.UnmarshalBinary(blob(others[0])); err != nil {
		t.Fatal(err)
	}
	if err := g.CheckInput(24); !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "expects 128 input channels, the features have 24") {
		t.Errorf("CheckInput(24) after loading a 128-channel head: %v", err)
	}
	// A spec over the tensors of another head (spec swapped, CRC
	// recomputed) is refused by the size of the first tensor.
	good := blob(base)
	oldSpec, _ := json.Marshal(mustNormal(t, base))
	newSpec, _ := json.Marshal(mustNormal(t, HeadSpec{Kind: KindFCN, InChannels: 12, Classes: 3, Hidden: 8}))
	body := append([]byte(ckptMagic), 1, 0, 0, 0)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(newSpec)))
	body = append(body, newSpec...)
	body = append(body, good[len(ckptMagic)+8+len(oldSpec):len(good)-4]...)
	body = binary.LittleEndian.AppendUint32(body, crc32.ChecksumIEEE(body))
	if err := new(Head).UnmarshalBinary(body); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), `"conv.weight" with 1728 values, want "conv.weight" with 864`) {
		t.Errorf("spec of a 12-channel head over 24-channel tensors: error %v", err)
	}
}

func mustNormal(t *testing.T, s HeadSpec) HeadSpec {
	t.Helper()
	n, _, err := s.normalized()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAppendParams decodes what AppendParams appends after a prefix and
// compares it field by field with the parameters.
func TestAppendParams(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, ps := range [][]*Param{
		nil,
		{{Name: "w", Data: []float32{1.5, -2}}},
		{{Name: "", Data: nil}, {Name: "conv.bias", Data: []float32{float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())}}},
	} {
		b := AppendParams([]byte("pre"), ps)
		if string(b[:3]) != "pre" {
			t.Fatalf("%d params: prefix overwritten", len(ps))
		}
		r := b[3:]
		take := func(n int) []byte {
			if len(r) < n {
				t.Fatalf("%d params: encoding too short", len(ps))
			}
			v := r[:n]
			r = r[n:]
			return v
		}
		if n := binary.LittleEndian.Uint32(take(4)); int(n) != len(ps) {
			t.Fatalf("count %d, want %d", n, len(ps))
		}
		for i, p := range ps {
			name := string(take(int(binary.LittleEndian.Uint32(take(4)))))
			if name != p.Name {
				t.Errorf("param %d: name %q, want %q", i, name, p.Name)
			}
			n := binary.LittleEndian.Uint64(take(8))
			if int(n) != len(p.Data) {
				t.Fatalf("param %d: %d values, want %d", i, n, len(p.Data))
			}
			for j, v := range p.Data {
				if got := math.Float32frombits(binary.LittleEndian.Uint32(take(4))); got != v {
					t.Errorf("param %d value %d: %g, want %g", i, j, got, v)
				}
			}
		}
		if len(r) != 0 {
			t.Errorf("%d params: %d bytes left over", len(ps), len(r))
		}
	}
}
