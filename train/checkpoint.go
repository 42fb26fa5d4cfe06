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

const ckptMagic = "LMPCKPT1"

// Checkpoint is the resumable state of a run at the end of an iteration.
type Checkpoint struct {
	Iter     int     // iterations completed
	BestMIoU float64 // best validation mIoU so far (-1 when none)
	BestIter int
	Head     []byte // graph.Head.MarshalBinary
	Optim    []byte // Optimizer.MarshalBinary
}

// MarshalBinary encodes c with a magic header and a CRC-32 trailer.
func (c *Checkpoint) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(ckptMagic)
	binary.Write(&b, binary.LittleEndian, int64(c.Iter))
	binary.Write(&b, binary.LittleEndian, c.BestMIoU)
	binary.Write(&b, binary.LittleEndian, int64(c.BestIter))
	for _, s := range [][]byte{c.Head, c.Optim} {
		binary.Write(&b, binary.LittleEndian, uint64(len(s)))
		b.Write(s)
	}
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes(), nil
}

// UnmarshalBinary decodes a checkpoint written by MarshalBinary, verifying its checksum.
func (c *Checkpoint) UnmarshalBinary(data []byte) error {
	bad := func(what string) error { return fmt.Errorf("train: corrupt checkpoint: %s", what) }
	if len(data) < len(ckptMagic)+24+16+4 || string(data[:len(ckptMagic)]) != ckptMagic {
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
	var parts [2][]byte
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
	c.Head, c.Optim = parts[0], parts[1]
	return nil
}

// SaveCheckpoint writes the state of head and opt after iter iterations to path atomically.
func SaveCheckpoint(path string, iter int, best float64, bestIter int, head *graph.Head, opt Optimizer) error {
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
	c := Checkpoint{Iter: iter, BestMIoU: best, BestIter: bestIter, Head: hb, Optim: ob}
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
