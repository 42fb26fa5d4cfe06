package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
)

// cacheMagic names the entry format; version 2 adds the sample's content hash, so that an edited
// image or label is a miss (version 1 entries are misses too, and are rewritten).
const cacheMagic = "LMPFEAT2"

// sampleKey is the content key of sample i of ds that a cache entry must match: the dataset's
// Digest when it has one (the files' bytes: no decoding), else SampleSum of the decoded sample
// (smp when given, else loaded). It returns the sample when it had to decode it.
func sampleKey(ds data.Dataset, i int, smp *data.Sample) ([16]byte, *data.Sample, error) {
	if d, ok := ds.(data.Digester); ok {
		sum, err := d.Digest(i)
		return sum, smp, err
	}
	if smp == nil {
		var err error
		if smp, err = ds.Load(i); err != nil {
			return [16]byte{}, nil, err
		}
	}
	return SampleSum(smp), smp, nil
}

// SampleSum is the content hash of a sample (its image and label) that a cache entry must match:
// the first 16 bytes of the sha256 of H, W (int32), the image (float32 bits) and the label
// (int32), little-endian.
func SampleSum(s *data.Sample) [16]byte {
	h := sha256.New()
	var buf [4096]byte
	binary.LittleEndian.PutUint32(buf[0:], uint32(int32(s.H)))
	binary.LittleEndian.PutUint32(buf[4:], uint32(int32(s.W)))
	h.Write(buf[:8])
	for i := 0; i < len(s.Image); i += len(buf) / 4 {
		chunk := s.Image[i:min(i+len(buf)/4, len(s.Image))]
		for k, v := range chunk {
			binary.LittleEndian.PutUint32(buf[4*k:], math.Float32bits(v))
		}
		h.Write(buf[:4*len(chunk)])
	}
	for i := 0; i < len(s.Label); i += len(buf) / 4 {
		chunk := s.Label[i:min(i+len(buf)/4, len(s.Label))]
		for k, v := range chunk {
			binary.LittleEndian.PutUint32(buf[4*k:], uint32(v))
		}
		h.Write(buf[:4*len(chunk)])
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// FeatureCache stores backbone features (float16) and labels of a dataset on disk, one file per
// sample, so that epochs after the first skip the frozen backbone. Its folder name is a key derived
// from everything the features depend on: the backbone's sha256, the feature tensor and the
// preprocessing. A file that fails its checksum is treated as missing and rewritten.
type FeatureCache struct {
	Dir string
}

// CacheKey returns the cache key for features of the backbone with the given sha256, read at
// tensor feature, of images preprocessed as described by pre (any JSON-encodable value).
func CacheKey(backboneSHA256, feature string, pre any) string {
	b, _ := json.Marshal(struct {
		SHA, Feature string
		Pre          any
	}{backboneSHA256, feature, pre})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:12])
}

// OpenFeatureCache creates (when needed) the cache folder root/key.
func OpenFeatureCache(root, key string) (*FeatureCache, error) {
	dir := filepath.Join(root, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: feature cache: %w", err)
	}
	return &FeatureCache{Dir: dir}, nil
}

func (c *FeatureCache) path(split string, i int) string {
	return filepath.Join(c.Dir, fmt.Sprintf("%s-%06d.f16", split, i))
}

// Put stores the features (1 x C x h x w) and the H x W label map of sample i of split, whose
// content hash is sum.
func (c *FeatureCache) Put(split string, i int, sum [16]byte, feat *graph.Tensor, label []int32, H, W int) error {
	if feat.N != 1 || len(label) != H*W {
		panic("train: FeatureCache.Put: want one sample and a label of H*W")
	}
	return WriteFileAtomic(c.path(split, i), encodeEntry(sum, feat, label, H, W))
}

// encodeEntry returns the bytes of a cache entry: magic, content hash, the dimensions C, h, w, H
// and W (uint32), the features (float16), the label (uint16) and a CRC-32 (IEEE) of all before
// it, little-endian.
func encodeEntry(sum [16]byte, feat *graph.Tensor, label []int32, H, W int) []byte {
	b := make([]byte, cacheHeader+2*len(feat.Data)+2*len(label)+4)
	copy(b, cacheMagic)
	copy(b[len(cacheMagic):], sum[:])
	for k, v := range []int{feat.C, feat.H, feat.W, H, W} {
		binary.LittleEndian.PutUint32(b[len(cacheMagic)+16+4*k:], uint32(v))
	}
	p := b[cacheHeader:]
	for k, v := range feat.Data {
		binary.LittleEndian.PutUint16(p[2*k:], f32to16(v))
	}
	p = p[2*len(feat.Data):]
	for k, v := range label {
		binary.LittleEndian.PutUint16(p[2*k:], uint16(v))
	}
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	return b
}

// Get loads sample i of split. ok is false when the sample is not cached, its file is damaged, or
// it was computed from another image or label than the one whose content hash is sum.
func (c *FeatureCache) Get(split string, i int, sum [16]byte) (feat *graph.Tensor, label []int32, H, W int, ok bool, err error) {
	data, err := os.ReadFile(c.path(split, i))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, 0, 0, false, nil
	}
	if err != nil {
		return nil, nil, 0, 0, false, fmt.Errorf("train: feature cache: %w", err)
	}
	hdr := cacheHeader
	if len(data) < hdr+4 || string(data[:len(cacheMagic)]) != cacheMagic || !bytes.Equal(data[len(cacheMagic):len(cacheMagic)+16], sum[:]) ||
		crc32.ChecksumIEEE(data[:len(data)-4]) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, nil, 0, 0, false, nil
	}
	var d [5]int
	for k := range d {
		d[k] = int(binary.LittleEndian.Uint32(data[len(cacheMagic)+16+4*k:]))
	}
	nf, nl := d[0]*d[1]*d[2], d[3]*d[4]
	if hdr+2*nf+2*nl+4 != len(data) {
		return nil, nil, 0, 0, false, nil
	}
	feat = graph.NewTensor(1, d[0], d[1], d[2])
	p := data[hdr:]
	for k := range feat.Data {
		feat.Data[k] = f16to32(binary.LittleEndian.Uint16(p[2*k:]))
	}
	p = p[2*nf:]
	label = make([]int32, nl)
	for k := range label {
		v := binary.LittleEndian.Uint16(p[2*k:])
		label[k] = int32(v)
	}
	return feat, label, d[3], d[4], true, nil
}

// EntryState is what a cache holds for one sample.
type EntryState int

const (
	// EntryMissing: no entry.
	EntryMissing EntryState = iota
	// EntryPresent: an entry of the sample's content hash, whole.
	EntryPresent
	// EntryStale: an entry that cannot be used: computed from another image or label, written
	// in an older format, or damaged.
	EntryStale
)

// String returns "missing", "present" or "stale".
func (s EntryState) String() string {
	switch s {
	case EntryPresent:
		return "present"
	case EntryStale:
		return "stale"
	}
	return "missing"
}

// cacheHeader is the size of an entry's header: magic, content hash and five dimensions.
const cacheHeader = len(cacheMagic) + 16 + 20

// Check reports the state of the entry of sample i of split, whose content hash is sum, without
// decoding it. With full it reads the whole entry and verifies its checksum, as Get does; without,
// it reads only the header and checks the file's size against the dimensions it records, so a
// damaged entry of the right size is found only when read (and then rewritten). dims are the
// entry's feature channels, height and width and the label height and width when it is present.
func (c *FeatureCache) Check(split string, i int, sum [16]byte, full bool) (st EntryState, dims [5]int, err error) {
	f, err := os.Open(c.path(split, i))
	if errors.Is(err, fs.ErrNotExist) {
		return EntryMissing, dims, nil
	}
	if err != nil {
		return EntryMissing, dims, fmt.Errorf("train: feature cache: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return EntryMissing, dims, fmt.Errorf("train: feature cache: %w", err)
	}
	var b []byte
	if full {
		b = make([]byte, fi.Size())
	} else {
		b = make([]byte, min(fi.Size(), int64(cacheHeader)))
	}
	if _, err := io.ReadFull(f, b); err != nil {
		return EntryMissing, dims, fmt.Errorf("train: feature cache: %w", err)
	}
	if len(b) < cacheHeader || string(b[:len(cacheMagic)]) != cacheMagic || !bytes.Equal(b[len(cacheMagic):len(cacheMagic)+16], sum[:]) {
		return EntryStale, dims, nil
	}
	for k := range dims {
		dims[k] = int(binary.LittleEndian.Uint32(b[len(cacheMagic)+16+4*k:]))
	}
	if int64(cacheHeader)+2*int64(dims[0])*int64(dims[1])*int64(dims[2])+2*int64(dims[3])*int64(dims[4])+4 != fi.Size() {
		return EntryStale, [5]int{}, nil
	}
	if full && crc32.ChecksumIEEE(b[:len(b)-4]) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return EntryStale, [5]int{}, nil
	}
	return EntryPresent, dims, nil
}
