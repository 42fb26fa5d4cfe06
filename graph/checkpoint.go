package graph

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Checkpoint format (all integers little-endian):
//
//	magic "LMPHEAD\x00", version uint32 (1)
//	spec: uint32 length + JSON of HeadSpec
//	uint32 count of tensors, then per tensor:
//	    uint32 name length + name, uint64 value count, float32 values
//	uint32 CRC-32 (IEEE) of everything before it
//
// The tensors are Params() followed by Buffers(), in that order.
const (
	ckptMagic   = "LMPHEAD\x00"
	ckptVersion = 1
)

// ErrCheckpoint is wrapped by the errors UnmarshalBinary returns for
// corrupt or incompatible data.
var ErrCheckpoint = errors.New("graph: bad head checkpoint")

// MarshalBinary encodes the head's spec, parameters and buffers (not the
// gradients).
func (h *Head) MarshalBinary() ([]byte, error) {
	spec, err := json.Marshal(h.spec)
	if err != nil {
		return nil, fmt.Errorf("graph: encode head spec: %w", err)
	}
	ts := append(h.Params(), h.Buffers()...)
	b := make([]byte, 0, 64+len(spec))
	b = append(b, ckptMagic...)
	b = binary.LittleEndian.AppendUint32(b, ckptVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(spec)))
	b = append(b, spec...)
	b = AppendParams(b, ts)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return b, nil
}

// AppendParams appends to b the checkpoint encoding of ps, little-endian:
// a uint32 count, then for each a uint32 name length, the name, a uint64
// value count and the float32 values. It returns the extended slice.
func AppendParams(b []byte, ps []*Param) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ps)))
	for _, p := range ps {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Name)))
		b = append(b, p.Name...)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(p.Data)))
		for _, v := range p.Data {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	return b
}

type ckptReader struct {
	b   []byte
	err error
}

func (r *ckptReader) next(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: truncated %s", ErrCheckpoint, what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *ckptReader) u32(what string) uint32 {
	if v := r.next(4, what); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *ckptReader) u64(what string) uint64 {
	if v := r.next(8, what); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

// UnmarshalBinary replaces h by the head encoded in data. Corrupt,
// truncated or inconsistent data gives an error wrapping ErrCheckpoint and
// leaves h unchanged: every tensor's name and size must be the ones the
// stored spec's kind declares. When h was built (by NewHead or an earlier
// UnmarshalBinary) rather than being the zero Head, the stored spec must
// also equal h's: a checkpoint of another kind, width or number of input
// channels or classes is refused with an error that names both heads. The
// zero Head takes any valid checkpoint; check its input channels with
// CheckInput before Forward. h's thread count (SetThreads) is kept.
func (h *Head) UnmarshalBinary(data []byte) error {
	if len(data) < len(ckptMagic)+8 || string(data[:len(ckptMagic)]) != ckptMagic {
		return fmt.Errorf("%w: missing magic header", ErrCheckpoint)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("%w: checksum mismatch", ErrCheckpoint)
	}
	r := &ckptReader{b: body[len(ckptMagic):]}
	if v := r.u32("version"); r.err == nil && v != ckptVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrCheckpoint, v, ckptVersion)
	}
	specJSON := r.next(uint64(r.u32("spec length")), "spec")
	if r.err != nil {
		return r.err
	}
	var spec HeadSpec
	if err := json.Unmarshal(specJSON, &spec); err != nil {
		return fmt.Errorf("%w: spec: %w", ErrCheckpoint, err)
	}
	ns, k, err := spec.normalized()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if h.kind != nil && ns != h.spec {
		return fmt.Errorf("%w: it holds a %s, this head is a %s", ErrCheckpoint, ns.describe(), h.spec.describe())
	}
	want := k.tensors(ns)
	// Refuse before allocating when the data cannot hold the tensors.
	var values uint64
	for _, t := range want {
		values += t.n
	}
	if 4*values > uint64(len(r.b)) {
		return fmt.Errorf("%w: truncated: a %s needs %d values", ErrCheckpoint, ns.describe(), values)
	}
	if n := r.u32("tensor count"); r.err == nil && int(n) != len(want) {
		return fmt.Errorf("%w: %d tensors, want %d for a %s", ErrCheckpoint, n, len(want), ns.describe())
	}
	raws := make([][]byte, len(want))
	for i, t := range want {
		name := r.next(uint64(r.u32("name length")), "name")
		count := r.u64("value count")
		if r.err != nil {
			return r.err
		}
		if string(name) != t.name || count != t.n {
			return fmt.Errorf("%w: tensor %q with %d values, want %q with %d for a %s", ErrCheckpoint, name, count, t.name, t.n, ns.describe())
		}
		if raws[i] = r.next(4*count, t.name); r.err != nil {
			return r.err
		}
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCheckpoint, len(r.b))
	}
	nh, err := NewHead(ns, 0)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	ts := append(nh.Params(), nh.Buffers()...)
	if len(ts) != len(want) {
		panic(fmt.Sprintf("graph: %s head declares %d checkpoint tensors but has %d", ns.Kind, len(want), len(ts)))
	}
	for i, p := range ts {
		if p.Name != want[i].name || uint64(len(p.Data)) != want[i].n {
			panic(fmt.Sprintf("graph: %s head declares checkpoint tensor %s with %d values, has %s with %d", ns.Kind, want[i].name, want[i].n, p.Name, len(p.Data)))
		}
		raw := raws[i]
		for j := range p.Data {
			p.Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
	}
	nh.SetThreads(h.threads)
	*h = *nh
	return nil
}
