package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// Model is an ONNX model held in memory together with the path it was read
// from. Path is used to resolve tensors stored in external data files; it is
// empty for models built or decoded in memory.
type Model struct {
	Proto *pb.ModelProto
	Path  string
}

// ErrNotONNX is wrapped by the errors of Load and Decode when the bytes are not
// an ONNX model.
var ErrNotONNX = errors.New("not an ONNX model")

// Load reads, decodes and validates the ONNX model stored at path, putting
// its nodes in topological order when they are not (see Decode). Tensors in
// external data files stay external: they are resolved relative to the
// folder of path when the model is saved, run or inspected.
func Load(path string) (*Model, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("onnx: %s is a folder, not an ONNX model file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("onnx: model file %s does not exist: %w", path, os.ErrNotExist)
		}
		return nil, fmt.Errorf("onnx: reading model: %w", err)
	}
	mp, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return &Model{Proto: mp, Path: path}, nil
}

// Decode parses b as a serialized ModelProto and validates it as Load does:
// the model must have a graph, an IR version and at least one input that is
// not an initializer. Nodes that are not in topological order (onnxruntime
// runs such models) are sorted with SortNodes; a graph with a cycle is an
// error. Decode never panics, whatever b holds.
func Decode(b []byte) (*pb.ModelProto, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("onnx: %w: empty data", ErrNotONNX)
	}
	mp := &pb.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		return nil, fmt.Errorf("onnx: %w: protobuf decoding failed (%v)", ErrNotONNX, err)
	}
	if err := Validate(mp); err != nil {
		return nil, err
	}
	if err := SortNodes(mp.GetGraph()); err != nil {
		return nil, err
	}
	return mp, nil
}

// Validate checks the minimal structure that every other function of the
// package relies on: an IR version, a graph with at least one node or output,
// and at least one graph input that is not an initializer.
func Validate(mp *pb.ModelProto) error {
	if mp == nil || mp.GetGraph() == nil || mp.GetIrVersion() <= 0 {
		return fmt.Errorf("onnx: %w: no graph or IR version found", ErrNotONNX)
	}
	g := mp.GetGraph()
	if len(g.GetOutput()) == 0 {
		return fmt.Errorf("onnx: %w: the graph has no outputs", ErrNotONNX)
	}
	if len(RealInputs(g)) == 0 {
		return errors.New("onnx: the model has no inputs (every graph input is an initializer)")
	}
	return nil
}

// RealInputs returns the graph inputs that are not initializers, in graph
// order.
func RealInputs(g *pb.GraphProto) []*pb.ValueInfoProto {
	inits := make(map[string]bool, len(g.GetInitializer()))
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	var in []*pb.ValueInfoProto
	for _, v := range g.GetInput() {
		if v != nil && !inits[v.GetName()] {
			in = append(in, v)
		}
	}
	return in
}

// Marshal serializes the model deterministically. Unknown fields read by
// Load or Decode are written back unchanged.
func (m *Model) Marshal() ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Proto)
	if err != nil {
		return nil, fmt.Errorf("onnx: encoding model: %w", err)
	}
	return b, nil
}

// Dir returns the folder that external data locations are relative to, or ""
// for a model without a path.
func (m *Model) Dir() string {
	if m.Path == "" {
		return ""
	}
	return filepath.Dir(m.Path)
}

// Save writes the model to path. Everything the model holds is written back,
// including fields this package does not know, metadata properties and
// opset imports. Tensors stored in external data files stay external: when
// path is in another folder than the model was read from, each data file is
// hard-linked (or copied) next to the output and its location rewritten to a
// path relative to the output folder. The in-memory model is not changed.
func (m *Model) Save(path string) error {
	if m == nil || m.Proto == nil {
		return errors.New("onnx: saving a nil model")
	}
	out := proto.Clone(m.Proto).(*pb.ModelProto)
	ext := externalTensors(out)
	if len(ext) > 0 {
		if err := m.relocateExternal(ext, filepath.Dir(path)); err != nil {
			return err
		}
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(out)
	if err != nil {
		return fmt.Errorf("onnx: encoding model: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("onnx: writing model: %w", err)
	}
	return nil
}

// relocateExternal makes the external data of tensors reachable from
// outDir, rewriting their locations.
func (m *Model) relocateExternal(ext []*pb.TensorProto, outDir string) error {
	srcDir := m.Dir()
	if m.Path == "" {
		return errors.New("onnx: the model has tensors in external data files but no source path to resolve them")
	}
	absSrc, err := filepath.Abs(srcDir)
	if err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	absOut, err := filepath.Abs(outDir)
	if err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	if err := os.MkdirAll(absOut, 0o755); err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	done := map[string]string{} // source file -> new location
	for _, t := range ext {
		loc := externalLocation(t)
		if loc == "" {
			return fmt.Errorf("onnx: tensor %q is external but has no location", t.GetName())
		}
		src := loc
		if !filepath.IsAbs(src) {
			src = filepath.Join(absSrc, filepath.FromSlash(loc))
		}
		if nl, ok := done[src]; ok {
			setExternalLocation(t, nl)
			continue
		}
		// Keep the relative name when it stays inside the output folder,
		// otherwise use the base name.
		rel := filepath.FromSlash(loc)
		if filepath.IsAbs(rel) || !filepath.IsLocal(rel) {
			rel = filepath.Base(src)
		}
		dst := filepath.Join(absOut, rel)
		if err := linkOrCopy(src, dst); err != nil {
			return fmt.Errorf("onnx: external data of tensor %q: %w", t.GetName(), err)
		}
		nl := filepath.ToSlash(rel)
		done[src] = nl
		setExternalLocation(t, nl)
	}
	return nil
}

// linkOrCopy makes dst hold the content of src: nothing is done when they
// are already the same file, a hard link is tried first, a copy otherwise.
func linkOrCopy(src, dst string) error {
	si, err := os.Stat(src)
	if err != nil {
		return err
	}
	if di, err := os.Stat(dst); err == nil {
		if os.SameFile(si, di) {
			return nil
		}
		if err := os.Remove(dst); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// externalTensors returns every tensor of the model stored in external data:
// initializers and tensor attributes, in subgraphs too.
func externalTensors(mp *pb.ModelProto) []*pb.TensorProto {
	var ts []*pb.TensorProto
	forEachTensor(mp.GetGraph(), func(t *pb.TensorProto) {
		if t.GetDataLocation() == pb.TensorProto_EXTERNAL {
			ts = append(ts, t)
		}
	})
	return ts
}

// forEachTensor calls f for every dense tensor held by g: initializers,
// sparse initializer parts and attribute tensors, recursively.
func forEachTensor(g *pb.GraphProto, f func(*pb.TensorProto)) {
	if g == nil {
		return
	}
	for _, t := range g.GetInitializer() {
		if t != nil {
			f(t)
		}
	}
	for _, s := range g.GetSparseInitializer() {
		if s.GetValues() != nil {
			f(s.GetValues())
		}
		if s.GetIndices() != nil {
			f(s.GetIndices())
		}
	}
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			if a.GetT() != nil {
				f(a.GetT())
			}
			for _, t := range a.GetTensors() {
				if t != nil {
					f(t)
				}
			}
			forEachTensor(a.GetG(), f)
			for _, sg := range a.GetGraphs() {
				forEachTensor(sg, f)
			}
		}
	}
}

func externalLocation(t *pb.TensorProto) string {
	for _, e := range t.GetExternalData() {
		if e.GetKey() == "location" {
			return e.GetValue()
		}
	}
	return ""
}

func setExternalLocation(t *pb.TensorProto, loc string) {
	for _, e := range t.GetExternalData() {
		if e.GetKey() == "location" {
			e.Value = loc
			return
		}
	}
	t.ExternalData = append(t.ExternalData, &pb.StringStringEntryProto{Key: "location", Value: loc})
}

// HasExternalData reports whether any tensor of the model lives in an
// external data file.
func (m *Model) HasExternalData() bool {
	return len(externalTensors(m.Proto)) > 0
}

// Sha256 returns the hex-encoded SHA-256 digest of the file at path.
func Sha256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("onnx: hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Opset returns the version of the default ONNX domain ("" or "ai.onnx")
// imported by the model, or 0 when there is none.
func Opset(mp *pb.ModelProto) int64 {
	for _, o := range mp.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			return o.GetVersion()
		}
	}
	return 0
}

// trimLines shortens an onnxruntime message to its first line.
func trimLines(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
