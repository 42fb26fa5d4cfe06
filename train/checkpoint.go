package train

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"

	"github.com/lmpseg/lmpseg/graph"
)

// Checkpoint formats: version 1 holds the head and the optimiser; version 2 adds the sampler state
// and is written only when there is one, so a run without it writes version 1 files as before.
const (
	ckptMagic  = "LMPCKPT1"
	ckptMagic2 = "LMPCKPT2"
)

// Checkpoint is the resumable state of a run at the end of an iteration.
type Checkpoint struct {
	Iter     int     // iterations completed
	BestMIoU float64 // best validation mIoU so far (-1 when none)
	BestIter int
	Head     []byte // the trained net's MarshalBinary (graph.Trainable)
	Optim    []byte // Optimizer.MarshalBinary
	Sampler  []byte // the training sampler's state (ClassSampler.MarshalBinary); nil when it has none
}

// MarshalBinary encodes c with a magic header and a CRC-32 trailer.
func (c *Checkpoint) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	parts := [][]byte{c.Head, c.Optim}
	if len(c.Sampler) > 0 {
		b.WriteString(ckptMagic2)
		parts = append(parts, c.Sampler)
	} else {
		b.WriteString(ckptMagic)
	}
	binary.Write(&b, binary.LittleEndian, int64(c.Iter))
	binary.Write(&b, binary.LittleEndian, c.BestMIoU)
	binary.Write(&b, binary.LittleEndian, int64(c.BestIter))
	for _, s := range parts {
		binary.Write(&b, binary.LittleEndian, uint64(len(s)))
		b.Write(s)
	}
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes(), nil
}

// UnmarshalBinary decodes a checkpoint written by MarshalBinary (either version), verifying its
// checksum.
func (c *Checkpoint) UnmarshalBinary(data []byte) error {
	bad := func(what string) error { return fmt.Errorf("train: corrupt checkpoint: %s", what) }
	if len(data) < len(ckptMagic)+24+16+4 {
		return bad("bad header")
	}
	nparts := 2
	switch string(data[:len(ckptMagic)]) {
	case ckptMagic:
	case ckptMagic2:
		nparts = 3
	default:
		return bad("bad header")
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return bad("checksum mismatch")
	}
	p := body[len(ckptMagic):]
	c.Iter = int(int64(binary.LittleEndian.Uint64(p)))
	c.BestMIoU = math.Float64frombits(binary.LittleEndian.Uint64(p[8:]))
	c.BestIter = int(int64(binary.LittleEndian.Uint64(p[16:])))
	p = p[24:]
	parts := make([][]byte, nparts)
	for i := range parts {
		if len(p) < 8 {
			return bad("truncated")
		}
		n := binary.LittleEndian.Uint64(p)
		p = p[8:]
		if n > uint64(len(p)) {
			return bad("truncated")
		}
		parts[i] = p[:n]
		p = p[n:]
	}
	if len(p) != 0 {
		return bad("trailing bytes")
	}
	c.Head, c.Optim, c.Sampler = parts[0], parts[1], nil
	if nparts == 3 {
		if len(parts[2]) == 0 {
			return bad("empty sampler state")
		}
		c.Sampler = parts[2]
	}
	return nil
}

// SaveCheckpoint writes the state of head and opt after iter iterations to path atomically.
func SaveCheckpoint(path string, iter int, best float64, bestIter int, head graph.Trainable, opt Optimizer) error {
	return SaveCheckpointSampler(path, iter, best, bestIter, head, opt, nil)
}

// SaveCheckpointSampler is SaveCheckpoint with the training sampler's state (nil: none).
func SaveCheckpointSampler(path string, iter int, best float64, bestIter int, head graph.Trainable, opt Optimizer, sampler []byte) error {
	hb, err := head.MarshalBinary()
	if err != nil {
		return fmt.Errorf("train: encoding head: %w", err)
	}
	var ob []byte
	if opt != nil {
		if ob, err = opt.MarshalBinary(); err != nil {
			return fmt.Errorf("train: encoding optimizer: %w", err)
		}
	}
	c := Checkpoint{Iter: iter, BestMIoU: best, BestIter: bestIter, Head: hb, Optim: ob, Sampler: sampler}
	b, _ := c.MarshalBinary()
	return WriteFileAtomic(path, b)
}

// LoadCheckpoint reads a checkpoint file.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var c Checkpoint
	if err := c.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w in %s", err, path)
	}
	return &c, nil
}

// LoadHead rebuilds the head stored in a checkpoint file.
func LoadHead(path string) (*graph.Head, *Checkpoint, error) {
	c, err := LoadCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	h := new(graph.Head)
	if err := h.UnmarshalBinary(c.Head); err != nil {
		return nil, nil, fmt.Errorf("train: head in %s: %w", path, err)
	}
	return h, c, nil
}
