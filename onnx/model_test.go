package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

var pngHeader = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xde}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := proto.Marshal(buildNet(netSpec{channels: []int{2}}))
	if err != nil {
		t.Fatal(err)
	}
	noInputs := buildNet(netSpec{channels: []int{2}})
	noInputs.Graph.Input = []*pb.ValueInfoProto{{Name: "w1"}} // only an initializer
	noIn, _ := proto.Marshal(noInputs)
	noGraph, _ := proto.Marshal(&pb.ModelProto{IrVersion: 8, ProducerName: "x"})
	random := make([]byte, 4096)
	r := lcg(7)
	for i := range random {
		r.next()
		random[i] = byte(r >> 32)
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte // nil: the file is not written
		want string
	}{
		{"missing", nil, "does not exist"},
		{"empty", []byte{}, "not an ONNX model"},
		{"random", random, "not an ONNX model"},
		{"truncated", good[:len(good)/2], "not an ONNX model"},
		{"png", pngHeader, "not an ONNX model"},
		{"nograph", noGraph, "not an ONNX model"},
		{"noinputs", noIn, "no inputs"},
		{"folder", nil, "is a folder"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".onnx")
		if c.data != nil {
			if err := os.WriteFile(p, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Load(p)
		if err == nil {
			t.Errorf("%s: Load succeeded, want error containing %q", c.name, c.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "onnx: ") {
			t.Errorf("%s: error %q, want one line starting with \"onnx: \" containing %q", c.name, msg, c.want)
		}
	}
	p := writeFile(t, dir, "good.onnx", good)
	if _, err := Load(p); err != nil {
		t.Errorf("good model: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.onnx")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error %v does not wrap os.ErrNotExist", err)
	}
	if _, err := Decode(pngHeader); !errors.Is(err, ErrNotONNX) {
		t.Errorf("png error %v does not wrap ErrNotONNX", err)
	}
}

// withUnknown appends an unknown varint field to a serialized message.
func withUnknown(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func TestSaveKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	mp := buildNet(netSpec{channels: []int{2, 3}, opset: 13})
	mp.OpsetImport = append(mp.OpsetImport, &pb.OperatorSetIdProto{Domain: "com.microsoft", Version: 1})
	mp.MetadataProps = append(mp.MetadataProps, &pb.StringStringEntryProto{Key: "classes", Value: "a,b"})
	// An unknown field in the model and one in a nested node.
	node, err := proto.Marshal(mp.Graph.Node[0])
	if err != nil {
		t.Fatal(err)
	}
	mp.Graph.Node[0] = &pb.NodeProto{}
	if err := proto.Unmarshal(withUnknown(node, 977, 4242), mp.Graph.Node[0]); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	b = withUnknown(b, 999, 31337)
	src := writeFile(t, dir, "src.onnx", b)
	m, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "out", "dst.onnx")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dst); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m.Proto, back.Proto) {
		t.Error("saved model differs from the loaded one")
	}
	for _, c := range []struct {
		what string
		raw  []byte
		num  protowire.Number
		val  uint64
	}{
		{"model", back.Proto.ProtoReflect().GetUnknown(), 999, 31337},
		{"node", back.Proto.Graph.Node[0].ProtoReflect().GetUnknown(), 977, 4242},
	} {
		num, typ, n := protowire.ConsumeTag(c.raw)
		if n < 0 || num != c.num || typ != protowire.VarintType {
			t.Errorf("%s: unknown field lost (raw %x)", c.what, c.raw)
			continue
		}
		v, m := protowire.ConsumeVarint(c.raw[n:])
		if m < 0 || v != c.val {
			t.Errorf("%s: unknown field value %d, want %d", c.what, v, c.val)
		}
	}
	if got := len(back.Proto.OpsetImport); got != 2 || Opset(back.Proto) != 13 {
		t.Errorf("opsets after save: %v", back.Proto.OpsetImport)
	}
	if got := len(back.Proto.MetadataProps); got != 2 || back.Proto.MetadataProps[1].Value != "a,b" {
		t.Errorf("metadata after save: %v", back.Proto.MetadataProps)
	}
}

func TestSaveExternalData(t *testing.T) {
	root := t.TempDir()
	cases := []struct {
		name, loc, outDir, wantLoc string
	}{
		{"same folder", "w.bin", "", "w.bin"},
		{"sub folder", "data/w.bin", "other", "data/w.bin"},
		{"other folder", "w.bin", "other/deeper", "w.bin"},
		{"parent reference", "../shared/w.bin", "out", "w.bin"},
	}
	for i, c := range cases {
		src := filepath.Join(root, itoa(i+1), "model")
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		mp := buildNet(netSpec{channels: []int{2, 3}})
		var want [][]byte
		for _, in := range mp.Graph.Initializer {
			want = append(want, append([]byte(nil), in.RawData...))
		}
		externalize(t, mp, src, c.loc)
		p := writeModel(t, src, "m.onnx", mp)
		m, err := Load(p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !m.HasExternalData() {
			t.Fatalf("%s: model has no external data", c.name)
		}
		outDir := src
		if c.outDir != "" {
			outDir = filepath.Join(root, itoa(i+1), c.outDir)
		}
		out := filepath.Join(outDir, "saved.onnx")
		if err := m.Save(out); err != nil {
			t.Fatalf("%s: save: %v", c.name, err)
		}
		back, err := Load(out)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for j, in := range back.Proto.Graph.Initializer {
			if in.DataLocation != pb.TensorProto_EXTERNAL || len(in.RawData) != 0 {
				t.Errorf("%s: initializer %s is no longer external", c.name, in.Name)
				continue
			}
			loc := externalLocation(in)
			if loc != c.wantLoc {
				t.Errorf("%s: location %q, want %q", c.name, loc, c.wantLoc)
			}
			got, err := readExternal(outDir, in)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if string(got) != string(want[j]) {
				t.Errorf("%s: data of %s differs after save", c.name, in.Name)
			}
		}
		// The source model is unchanged.
		if loc := externalLocation(m.Proto.Graph.Initializer[0]); loc != c.loc {
			t.Errorf("%s: source location changed to %q", c.name, loc)
		}
	}
	// A model without a path cannot resolve its external data.
	mp := buildNet(netSpec{channels: []int{2}})
	externalize(t, mp, root, "x.bin")
	if err := (&Model{Proto: mp}).Save(filepath.Join(root, "y.onnx")); err == nil {
		t.Error("saving external data without a source path succeeded")
	}
}

// readExternal reads the bytes of an external tensor relative to dir.
func readExternal(dir string, t *pb.TensorProto) ([]byte, error) {
	var loc string
	var off, n int
	for _, e := range t.ExternalData {
		switch e.Key {
		case "location":
			loc = e.Value
		case "offset":
			off = atoi(e.Value)
		case "length":
			n = atoi(e.Value)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(loc)))
	if err != nil {
		return nil, err
	}
	if off+n > len(b) {
		return nil, errors.New("external data out of range")
	}
	return b[off : off+n], nil
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestSha256(t *testing.T) {
	dir := t.TempDir()
	for _, data := range [][]byte{{}, []byte("abc"), make([]byte, 100000)} {
		p := writeFile(t, dir, "f", data)
		got, err := Sha256(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if want := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("len %d: Sha256 = %s, want %s", len(data), got, want)
		}
	}
	if _, err := Sha256(filepath.Join(dir, "none")); err == nil {
		t.Error("Sha256 of a missing file succeeded")
	}
}
