package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"runtime"
	"sync"

	"github.com/lmpseg/lmpseg/data"
)

// ClassPresence records which classes each sample of a dataset contains (one labelled pixel
// suffices) and the dataset's label histogram, both computed in one pass over the labels.
type ClassPresence struct {
	N, K   int
	Hist   []int64 // labelled pixels per class over the dataset
	bits   []uint64
	words  int
	mu     sync.Mutex
	images [][]int32
}

// NewClassPresence returns an empty presence matrix of n samples and k classes.
func NewClassPresence(n, k int) *ClassPresence {
	w := (k + 63) / 64
	return &ClassPresence{N: n, K: k, Hist: make([]int64, k), bits: make([]uint64, n*w), words: w}
}

// Set marks class c present in sample i.
func (p *ClassPresence) Set(i, c int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bits[i*p.words+c/64] |= 1 << (c % 64)
	p.images = nil
}

// Has reports whether sample i contains class c.
func (p *ClassPresence) Has(i, c int) bool { return p.bits[i*p.words+c/64]&(1<<(c%64)) != 0 }

// Images returns the samples that contain class c, in increasing order. The slice is shared:
// do not modify it. It is safe for concurrent use (but not with Set).
func (p *ClassPresence) Images(c int) []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.images == nil {
		imgs := make([][]int32, p.K)
		for i := 0; i < p.N; i++ {
			for c := 0; c < p.K; c++ {
				if p.Has(i, c) {
					imgs[c] = append(imgs[c], int32(i))
				}
			}
		}
		p.images = imgs
	}
	return p.images[c]
}

// ComputeClassPresence decodes every label of ds (through data.LabelLoader when ds has it) and
// records the classes 0..k-1 each contains; other values (the ignore label) are skipped. Labels
// are decoded in parallel; the result does not depend on the order.
func ComputeClassPresence(ds data.Dataset, k int) (*ClassPresence, error) {
	if k <= 0 {
		return nil, fmt.Errorf("train: class presence of %d classes", k)
	}
	n := ds.Len()
	p := NewClassPresence(n, k)
	counts := make([][]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), max(n, 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				lab, err := data.LoadLabel(ds, i)
				if err != nil {
					errs[i] = err
					continue
				}
				h := make([]int64, k)
				for _, v := range lab {
					if v >= 0 && int(v) < k {
						h[v]++
					}
				}
				counts[i] = h
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, h := range counts {
		if errs[i] != nil {
			return nil, fmt.Errorf("train: class presence: %w", errs[i])
		}
		for c, v := range h {
			p.Hist[c] += v
			if v > 0 {
				p.Set(i, c)
			}
		}
	}
	return p, nil
}

const presenceMagic = "LMPPRES1"

// marshal encodes p with key (an identifier of the dataset, see PresenceKey) and a CRC-32.
func (p *ClassPresence) marshal(key [32]byte) []byte {
	var b bytes.Buffer
	b.WriteString(presenceMagic)
	b.Write(key[:])
	binary.Write(&b, binary.LittleEndian, [2]uint32{uint32(p.N), uint32(p.K)})
	binary.Write(&b, binary.LittleEndian, p.Hist)
	binary.Write(&b, binary.LittleEndian, p.bits)
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes()
}

// unmarshalPresence decodes what marshal wrote; ok is false for a damaged file or another key.
func unmarshalPresence(b []byte, key [32]byte) (*ClassPresence, bool) {
	hdr := len(presenceMagic) + 32 + 8
	if len(b) < hdr+4 || string(b[:len(presenceMagic)]) != presenceMagic || !bytes.Equal(b[len(presenceMagic):len(presenceMagic)+32], key[:]) ||
		crc32.ChecksumIEEE(b[:len(b)-4]) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(b[hdr-8:]))
	k := int(binary.LittleEndian.Uint32(b[hdr-4:]))
	p := NewClassPresence(n, k)
	if len(b) != hdr+8*k+8*len(p.bits)+4 {
		return nil, false
	}
	q := b[hdr:]
	for c := range p.Hist {
		p.Hist[c] = int64(binary.LittleEndian.Uint64(q))
		q = q[8:]
	}
	for i := range p.bits {
		p.bits[i] = binary.LittleEndian.Uint64(q)
		q = q[8:]
	}
	return p, true
}

// PresenceKey identifies a training set for the presence cache: its folder, format, split, class
// names, ignore label and sample names.
func PresenceKey(cfg *Config, ds data.Dataset) [32]byte {
	names := make([]string, ds.Len())
	for i := range names {
		names[i] = ds.Name(i)
	}
	b, _ := json.Marshal(struct {
		Data, Format, Split string
		Classes             []string
		Ignore              int32
		Names               []string
	}{cfg.Data, cfg.Format, cfg.Split, cfg.Classes, cfg.Ignore, names})
	return sha256.Sum256(b)
}

// LoadClassPresence returns the presence matrix stored at path under key, or computes it from ds
// with k classes and stores it there (atomically). A missing, damaged or differently keyed file
// is recomputed.
func LoadClassPresence(path string, key [32]byte, ds data.Dataset, k int) (*ClassPresence, error) {
	if b, err := os.ReadFile(path); err == nil {
		if p, ok := unmarshalPresence(b, key); ok && p.N == ds.Len() && p.K == k {
			return p, nil
		}
	}
	p, err := ComputeClassPresence(ds, k)
	if err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(path, p.marshal(key)); err != nil {
		return nil, err
	}
	return p, nil
}
