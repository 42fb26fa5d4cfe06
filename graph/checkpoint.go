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
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ts)))
	for _, p := range ts {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Name)))
		b = append(b, p.Name...)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(p.Data)))
		for _, v := range p.Data {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return b, nil
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
// leaves h unchanged.
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
	ns, err := spec.normalized()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	// Refuse before allocating when the data cannot hold the tensors.
	if 4*ns.valueCount() > uint64(len(r.b)) {
		return fmt.Errorf("%w: truncated: %s head needs %d values", ErrCheckpoint, ns.Kind, ns.valueCount())
	}
	nh, err := NewHead(spec, 0)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	ts := append(nh.Params(), nh.Buffers()...)
	if n := r.u32("tensor count"); r.err == nil && int(n) != len(ts) {
		return fmt.Errorf("%w: %d tensors, want %d for %s head", ErrCheckpoint, n, len(ts), spec.Kind)
	}
	for _, p := range ts {
		name := r.next(uint64(r.u32("name length")), "name")
		count := r.u64("value count")
		if r.err != nil {
			return r.err
		}
		if string(name) != p.Name || count != uint64(len(p.Data)) {
			return fmt.Errorf("%w: tensor %q with %d values, want %q with %d", ErrCheckpoint, name, count, p.Name, len(p.Data))
		}
		raw := r.next(4*count, p.Name)
		if r.err != nil {
			return r.err
		}
		for i := range p.Data {
			p.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCheckpoint, len(r.b))
	}
	*h = *nh
	return nil
}

// valueCount returns the number of float32 values of a normalised spec's
// parameters and buffers.
func (s HeadSpec) valueCount() uint64 {
	in, k, hid := uint64(s.InChannels), uint64(s.Classes), uint64(s.Hidden)
	if s.Kind == KindLinear {
		return in*k + k
	}
	return in*hid*9 + 4*hid + hid*k + k
}
