package cli_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/lmpseg/lmpseg/metrics"
	"github.com/lmpseg/lmpseg/train"
)

// rank2Model writes a valid ONNX model whose only output is rank 2 (Flatten of the image), so
// it is neither a segmentation model nor a usable feature tensor.
func rank2Model(t testing.TB, path string) {
	t.Helper()
	dim := func(v int64, p string) *pb.TensorShapeProto_Dimension {
		if p != "" {
			return &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: p}}
		}
		return &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	vi := func(name string, dims ...*pb.TensorShapeProto_Dimension) *pb.ValueInfoProto {
		return &pb.ValueInfoProto{Name: name, Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{
			ElemType: int32(pb.TensorProto_FLOAT), Shape: &pb.TensorShapeProto{Dim: dims}}}}}
	}
	m := &pb.ModelProto{
		IrVersion:    8,
		ProducerName: "lmpseg-test",
		OpsetImport:  []*pb.OperatorSetIdProto{{Domain: "", Version: 13}},
		Graph: &pb.GraphProto{
			Name: "flat",
			Node: []*pb.NodeProto{{OpType: "Flatten", Name: "flatten", Input: []string{"image"}, Output: []string{"flat"},
				Attribute: []*pb.AttributeProto{{Name: "axis", Type: pb.AttributeProto_INT, I: 1}}}},
			Input:  []*pb.ValueInfoProto{vi("image", dim(1, ""), dim(3, ""), dim(0, "height"), dim(0, "width"))},
			Output: []*pb.ValueInfoProto{vi("flat", dim(1, ""), dim(0, "chw"))},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b)
}

// readPNG decodes the PNG file at path, failing the test when it cannot.
func readPNG(t testing.TB, path string) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(readFile(t, path)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// asGray returns img, read from path, as the grey label map predict writes, failing the test
// when it is another kind of image.
func asGray(t testing.TB, path string, img image.Image) *image.Gray {
	t.Helper()
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("%s is a %T, want a grey label map", path, img)
	}
	return g
}

// readGray reads the PNG at path as grey levels, converting an image of another kind.
func readGray(t testing.TB, path string) *image.Gray {
	t.Helper()
	img := readPNG(t, path)
	g, ok := img.(*image.Gray)
	if !ok {
		b := img.Bounds()
		g = image.NewGray(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				g.Set(x, y, img.At(x, y))
			}
		}
	}
	return g
}

func writePNG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b.Bytes())
}

// dataCopy copies split ("train" or "val") of the synthetic dataset to dir/name and returns it.
func dataCopy(t testing.TB, dir, split, name string) string {
	t.Helper()
	dst := filepath.Join(dir, name)
	copyDir(t, filepath.Join(synthData(t), split), dst)
	return dst
}

// fiveClassData is a copy of the validation split relabelled to 5 classes.
func fiveClassData(t testing.TB, dir string) string {
	t.Helper()
	d := dataCopy(t, dir, "val", "five")
	writeFile(t, filepath.Join(d, "classes.txt"), []byte("a\nb\nc\nd\ne\n"))
	relabel(t, d, func(pix []uint8) {
		for i, v := range pix {
			if v != 255 {
				pix[i] = v % 5
			}
		}
	})
	return d
}

// relabel rewrites every label PNG of the dataset folder d, changing its pixels with f.
func relabel(t testing.TB, d string, f func(pix []uint8)) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(d, "labels"))
	for _, e := range ents {
		p := filepath.Join(d, "labels", e.Name())
		g := readGray(t, p)
		f(g.Pix)
		writePNG(t, p, g)
	}
}

// badCase is one bad input: setup makes the files in dir and returns the arguments; the error
// line must contain every string of want.
type badCase struct {
	name  string
	setup func(t *testing.T, dir string) []string
	want  []string
	skip  func() string // a reason to skip, or ""
	env   []string      // KEY=VALUE set for the run
}

// prepare skips t where c says so, else sets the case up in a fresh folder dir and returns
// dir and the arguments to run.
func (c badCase) prepare(t *testing.T) (dir string, args []string) {
	t.Helper()
	if c.skip != nil {
		if why := c.skip(); why != "" {
			t.Skip(why)
		}
	}
	dir = fastTempDir(t)
	return dir, c.setup(t, dir)
}

func badInputCases() []badCase {
	dyn := modelPath("tiny_dyn_s4.onnx")
	static := modelPath("tiny_static_s8.onnx")
	trainOn := func(t *testing.T, data, out string, extra ...string) []string {
		a := []string{"train", "--backbone", dyn, "--feature", "feat_s4", "--data", data, "--out", out,
			"--scale", "1,1", "--iters", "2", "--threads", "1", "--quiet"}
		return append(a, extra...)
	}
	// trainWith is the case of training on the synthetic set with extra flags appended.
	trainWith := func(name string, want []string, extra ...string) badCase {
		return badCase{name: name, want: want, setup: func(t *testing.T, dir string) []string {
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"), extra...)
		}}
	}
	corrupt := func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "corrupt.onnx")
		b := bytes.Repeat([]byte{0xff, 0x13, 0x07, 0xa5, 0x00, 0x42}, 200)
		writeFile(t, p, b)
		return p
	}
	truncated := func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "truncated.onnx")
		b := readFile(t, dyn)
		writeFile(t, p, b[:len(b)*2/3])
		return p
	}
	pngModel := func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "picture.onnx")
		writeFile(t, p, readFile(t, filepath.Join(synthData(t), "train", "images", "0000.png")))
		return p
	}
	emptyModel := func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "empty.onnx")
		writeFile(t, p, nil)
		return p
	}
	rank2 := func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "flat.onnx")
		rank2Model(t, p)
		return p
	}
	missingExternal := func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "external.onnx")
		var m pb.ModelProto
		if err := proto.Unmarshal(readFile(t, dyn), &m); err != nil {
			t.Fatal(err)
		}
		init := m.GetGraph().GetInitializer()[0]
		n := len(init.GetRawData())
		if n == 0 {
			n = 4 * len(init.GetFloatData())
		}
		init.RawData, init.FloatData = nil, nil
		init.DataLocation = pb.TensorProto_EXTERNAL
		init.ExternalData = []*pb.StringStringEntryProto{{Key: "location", Value: "weights.bin"},
			{Key: "offset", Value: "0"}, {Key: "length", Value: strconv.Itoa(n)}}
		b, err := proto.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, b)
		return p
	}
	// badModels are the broken model files each model-reading command is tried with.
	badModels := []struct {
		name string
		make func(*testing.T, string) string
		want string
		// readable: the protobuf itself is fine, so inspect without --probe describes it.
		readable bool
	}{
		{"corrupt", corrupt, "corrupt.onnx", false},
		{"truncated", truncated, "truncated.onnx", false},
		{"png renamed onnx", pngModel, "picture.onnx", false},
		{"empty", emptyModel, "empty.onnx", false},
		{"directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "dir.onnx")
			os.MkdirAll(p, 0o755)
			return p
		}, "dir.onnx", false},
		{"missing", func(t *testing.T, dir string) string { return filepath.Join(dir, "nothere.onnx") }, "nothere.onnx", false},
		{"external data missing", missingExternal, "weights.bin", true},
	}
	var cases []badCase
	for _, bm := range badModels {
		bm := bm
		cases = append(cases,
			badCase{name: "inspect/" + bm.name, want: []string{bm.want}, setup: func(t *testing.T, dir string) []string {
				return []string{"inspect", bm.make(t, dir)}
			}, skip: func() string {
				if bm.readable {
					return "inspect without --probe only reads the graph, which is intact"
				}
				return ""
			}},
			badCase{name: "inspect probe/" + bm.name, want: []string{bm.want}, setup: func(t *testing.T, dir string) []string {
				return []string{"inspect", "--probe", "64x128", bm.make(t, dir)}
			}},
			badCase{name: "train backbone/" + bm.name, want: []string{bm.want}, setup: func(t *testing.T, dir string) []string {
				return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"), "--backbone", bm.make(t, dir))
			}},
			badCase{name: "eval model/" + bm.name, want: []string{bm.want}, setup: func(t *testing.T, dir string) []string {
				return []string{"eval", "--model", bm.make(t, dir), "--data", filepath.Join(synthData(t), "val")}
			}},
			badCase{name: "predict model/" + bm.name, want: []string{bm.want}, setup: func(t *testing.T, dir string) []string {
				return []string{"predict", "--model", bm.make(t, dir), "--out", filepath.Join(dir, "pred"),
					filepath.Join(synthData(t), "val", "images")}
			}},
		)
	}
	cases = append(cases,
		// Models with the wrong output.
		badCase{name: "train/feature of rank 2", want: []string{"flat.onnx", "rank 4"}, setup: func(t *testing.T, dir string) []string {
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"), "--backbone", rank2(t, dir), "--feature", "")
		}},
		trainWith("train/unknown feature tensor", []string{"feat_s99"}, "--feature", "feat_s99"),
		badCase{name: "eval/model output rank 2", want: []string{"flat.onnx", "rank 2"}, setup: func(t *testing.T, dir string) []string {
			return []string{"eval", "--model", rank2(t, dir), "--data", filepath.Join(synthData(t), "val"), "--threads", "1"}
		}},
		badCase{name: "predict/model output rank 2", want: []string{"flat.onnx", "rank 2"}, setup: func(t *testing.T, dir string) []string {
			return []string{"predict", "--model", rank2(t, dir), "--out", filepath.Join(dir, "pred"), "--threads", "1",
				filepath.Join(synthData(t), "val", "images", "0000.png")}
		}},

		// Datasets.
		badCase{name: "train/missing data folder", want: []string{"nodata"}, setup: func(t *testing.T, dir string) []string {
			return trainOn(t, filepath.Join(dir, "nodata"), filepath.Join(dir, "run"))
		}},
		badCase{name: "train/data is a file", want: []string{"afile"}, setup: func(t *testing.T, dir string) []string {
			writeFile(t, filepath.Join(dir, "afile"), []byte("x"))
			return trainOn(t, filepath.Join(dir, "afile"), filepath.Join(dir, "run"))
		}},
		badCase{name: "train/empty data folder", want: []string{"emptyds"}, setup: func(t *testing.T, dir string) []string {
			os.MkdirAll(filepath.Join(dir, "emptyds"), 0o755)
			return trainOn(t, filepath.Join(dir, "emptyds"), filepath.Join(dir, "run"))
		}},
		badCase{name: "train/empty images and labels", want: []string{"emptyds"}, setup: func(t *testing.T, dir string) []string {
			os.MkdirAll(filepath.Join(dir, "emptyds", "images"), 0o755)
			os.MkdirAll(filepath.Join(dir, "emptyds", "labels"), 0o755)
			writeFile(t, filepath.Join(dir, "emptyds", "classes.txt"), []byte("a\nb\n"))
			return trainOn(t, filepath.Join(dir, "emptyds"), filepath.Join(dir, "run"))
		}},
		badCase{name: "train/image fails to decode", want: []string{"0000.png"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			writeFile(t, filepath.Join(d, "images", "0000.png"), []byte("\x89PNG\r\n\x1a\n garbage"))
			return trainOn(t, d, filepath.Join(dir, "run"), "--batch", "6")
		}},
		badCase{name: "train/label fails to decode", want: []string{"0002.png"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			writeFile(t, filepath.Join(d, "labels", "0002.png"), []byte("not a png"))
			return trainOn(t, d, filepath.Join(dir, "run"), "--batch", "6")
		}},
		badCase{name: "train/label out of range", want: []string{"0003.png", "200"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			p := filepath.Join(d, "labels", "0003.png")
			g := readGray(t, p)
			g.SetGray(5, 7, color.Gray{Y: 200})
			writePNG(t, p, g)
			return trainOn(t, d, filepath.Join(dir, "run"), "--batch", "6")
		}},
		badCase{name: "train/more label values than --classes", want: []string{"0000.png", "value 8", "0..2"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			os.Remove(filepath.Join(d, "classes.txt"))
			return trainOn(t, d, filepath.Join(dir, "run"), "--batch", "6", "--classes", "3")
		}},
		badCase{name: "train/image and label sizes differ", want: []string{"0001.png", "labels"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			writePNG(t, filepath.Join(d, "labels", "0001.png"), image.NewGray(image.Rect(0, 0, 64, 32)))
			return trainOn(t, d, filepath.Join(dir, "run"), "--batch", "6")
		}},
		badCase{name: "train/label missing", want: []string{"0004"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			os.Remove(filepath.Join(d, "labels", "0004.png"))
			return trainOn(t, d, filepath.Join(dir, "run"))
		}},
		badCase{name: "train/unreadable label (a folder)", want: []string{"0005.png"}, setup: func(t *testing.T, dir string) []string {
			// Tests run as root, where chmod 000 does not stop reads; a folder in a file's place does.
			d := dataCopy(t, dir, "train", "d")
			p := filepath.Join(d, "labels", "0005.png")
			os.Remove(p)
			os.MkdirAll(p, 0o755)
			return trainOn(t, d, filepath.Join(dir, "run"), "--batch", "6")
		}},
		badCase{name: "train/unreadable image (symlink loop)", want: []string{"0002.png"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			p := filepath.Join(d, "images", "0002.png")
			os.Remove(p)
			os.Symlink(p, p)
			return trainOn(t, d, filepath.Join(dir, "run"), "--batch", "6")
		}},
		badCase{name: "train/unreadable label (dangling link)", want: []string{"0000.png"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			p := filepath.Join(d, "labels", "0000.png")
			os.Remove(p)
			os.Symlink(filepath.Join(dir, "gone.png"), p)
			return trainOn(t, d, filepath.Join(dir, "run"), "--batch", "6")
		}},
		badCase{name: "train/unreadable (chmod 000)", want: []string{"0000.png"}, skip: func() string {
			if os.Geteuid() == 0 {
				return "running as root: permission bits do not stop root from reading"
			}
			return ""
		}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			os.Chmod(filepath.Join(d, "images", "0000.png"), 0)
			return trainOn(t, d, filepath.Join(dir, "run"), "--batch", "6")
		}},
		badCase{name: "train/wrong layout", want: []string{"wrongl"}, setup: func(t *testing.T, dir string) []string {
			d := filepath.Join(dir, "wrongl")
			writeFile(t, filepath.Join(d, "pictures", "a.png"), readFile(t, filepath.Join(synthData(t), "train", "images", "0000.png")))
			return trainOn(t, d, filepath.Join(dir, "run"))
		}},
		badCase{name: "train/images of two sizes in a batch", want: []string{"0002", "32x64", "--crop"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			writePNG(t, filepath.Join(d, "images", "0002.png"), image.NewRGBA(image.Rect(0, 0, 64, 32)))
			writePNG(t, filepath.Join(d, "labels", "0002.png"), image.NewGray(image.Rect(0, 0, 64, 32)))
			return trainOn(t, d, filepath.Join(dir, "run"), "--batch", "6")
		}},
		badCase{name: "train/val data missing", want: []string{"noval"}, setup: func(t *testing.T, dir string) []string {
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"), "--val-data", filepath.Join(dir, "noval"))
		}},

		// Flags.
		trainWith("train/bad crop", []string{"--crop", "0x5"}, "--crop", "0x5"),
		trainWith("train/unknown loss", []string{"hinge"}, "--loss", "hinge"),
		trainWith("train/lmp p below 1", []string{"0.5"}, "--loss", "lmp", "--lmp-p", "0.5"),
		trainWith("train/bad scale", []string{"--scale"}, "--scale", "2,1"),
		trainWith("train/negative lr", []string{"--lr", "-1"}, "--lr", "-1"),
		trainWith("train/lr NaN", []string{"--lr", "NaN"}, "--lr", "nan"),
		trainWith("train/momentum 5", []string{"--momentum", "5"}, "--momentum", "5"),
		trainWith("train/negative weight decay", []string{"--weight-decay"}, "--weight-decay", "-0.1"),
		trainWith("train/negative clip", []string{"--clip"}, "--clip", "-2"),
		trainWith("train/unknown optimizer", []string{"adagrad"}, "--optimizer", "adagrad"),
		trainWith("train/unknown device", []string{"tpu"}, "--device", "tpu"),
		trainWith("train/no iters", []string{"--iters"}, "--iters", "0"),
		trainWith("train/unknown flag", []string{"bogus"}, "--bogus"),
		badCase{name: "train/missing backbone flag", want: []string{"--backbone"}, setup: func(t *testing.T, dir string) []string {
			return []string{"train", "--data", filepath.Join(synthData(t), "train"), "--out", filepath.Join(dir, "run"), "--iters", "2"}
		}},

		// Run folders.
		badCase{name: "train/run folder holds another run", want: []string{"run", "--resume", "--force"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"))
		}},
		badCase{name: "train/resume with another backbone", want: []string{"run", "backbone"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			a := trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"), "--resume", "--backbone", static, "--feature", "feat_s8", "--crop", "64x128")
			return a
		}},
		badCase{name: "train/resume with another loss", want: []string{"run", "loss"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"), "--resume", "--loss", "focal", "--iters", "10", "--lr", "0.05")
		}},
		badCase{name: "train/resume an empty folder", want: []string{"--resume", "config.json"}, setup: func(t *testing.T, dir string) []string {
			os.MkdirAll(filepath.Join(dir, "run"), 0o755)
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"), "--resume")
		}},
		badCase{name: "train/corrupt config.json", want: []string{"config.json", "--force"}, setup: func(t *testing.T, dir string) []string {
			writeFile(t, filepath.Join(dir, "run", "config.json"), []byte("{not json"))
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"))
		}},
		badCase{name: "train/resume a corrupt checkpoint", want: []string{"last.ckpt"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			p := filepath.Join(dir, "run", "last.ckpt")
			b := readFile(t, p)
			b[len(b)/2] ^= 0xff
			writeFile(t, p, b)
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"), "--resume", "--iters", "10", "--loss", "ce", "--lr", "0.05")
		}},
		badCase{name: "train/out is a file", want: []string{"runfile", "folder"}, setup: func(t *testing.T, dir string) []string {
			writeFile(t, filepath.Join(dir, "runfile"), []byte("x"))
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "runfile"))
		}},
		badCase{name: "train/disk full: config.json is a folder", want: []string{"config.json"}, setup: func(t *testing.T, dir string) []string {
			os.MkdirAll(filepath.Join(dir, "run", "config.json", "x"), 0o755)
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"), "--force")
		}},
		badCase{name: "train/disk full: last.ckpt is a folder", want: []string{"last.ckpt"}, setup: func(t *testing.T, dir string) []string {
			// The run starts, and its first checkpoint write fails (a rename over a non-empty folder).
			run := filepath.Join(dir, "run")
			os.MkdirAll(filepath.Join(run, "last.ckpt", "x"), 0o755)
			return trainOn(t, filepath.Join(synthData(t), "train"), run, "--ckpt-every", "1")
		}},
		badCase{name: "train/disk full: tmpfs of 64 KiB", want: []string{"run"}, skip: tmpfsSkip, setup: func(t *testing.T, dir string) []string {
			mnt := tinyTmpfs(t, dir, "48k")
			// Fill the file system but a little, so that the run starts and a later write fails.
			filler := filepath.Join(mnt, "filler")
			f, _ := os.Create(filler)
			f.Write(make([]byte, 36<<10))
			f.Close()
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(mnt, "run"), "--iters", "200", "--ckpt-every", "1")
		}},

		// eval.
		badCase{name: "eval/missing data flag", want: []string{"--data"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			return []string{"eval", "--model", m}
		}},
		badCase{name: "eval/both model and run", want: []string{"--model", "--run"}, setup: func(t *testing.T, dir string) []string {
			r, m := trainedRun(t)
			return []string{"eval", "--model", m, "--run", r, "--data", filepath.Join(synthData(t), "val")}
		}},
		badCase{name: "eval/shard 3/2", want: []string{"3/2"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			return []string{"eval", "--model", m, "--data", filepath.Join(synthData(t), "val"), "--shard", "3/2"}
		}},
		badCase{name: "eval/shard abc", want: []string{"abc"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			return []string{"eval", "--model", m, "--data", filepath.Join(synthData(t), "val"), "--shard", "abc"}
		}},
		badCase{name: "eval/class count of model and data differ", want: []string{"12", "5", "five"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			return []string{"eval", "--model", m, "--data", fiveClassData(t, dir), "--threads", "1"}
		}},
		badCase{name: "eval/bare model's output classes and data differ", want: []string{"tiny_dyn_s4.onnx", "5", "12"}, setup: func(t *testing.T, dir string) []string {
			return []string{"eval", "--model", dyn, "--data", filepath.Join(synthData(t), "val"), "--threads", "1"}
		}},
		badCase{name: "eval/JOB_COMPLETION_INDEX out of range", want: []string{"JOB_COMPLETION_INDEX", "5"}, env: []string{"JOB_COMPLETION_INDEX=5"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			return []string{"eval", "--model", m, "--data", filepath.Join(synthData(t), "val"), "--shards", "2"}
		}},
		badCase{name: "eval/SLURM_ARRAY_TASK_ID without shard count", want: []string{"SLURM_ARRAY_TASK_ID"}, env: []string{"SLURM_ARRAY_TASK_ID=1"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			return []string{"eval", "--model", m, "--data", filepath.Join(synthData(t), "val")}
		}},
		badCase{name: "eval run/class count of run and data differ", want: []string{"12", "5", "five"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			return []string{"eval", "--run", r, "--data", fiveClassData(t, dir), "--threads", "1"}
		}},
		badCase{name: "eval/image fails to decode --strict", want: []string{"0001.png"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			d := dataCopy(t, dir, "val", "v")
			writeFile(t, filepath.Join(d, "images", "0001.png"), []byte("garbage"))
			return []string{"eval", "--model", m, "--data", d, "--strict", "--threads", "1"}
		}},
		badCase{name: "eval/every image fails to decode", want: []string{"allbad", "3"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			d := dataCopy(t, dir, "val", "allbad")
			for _, n := range []string{"0000", "0001", "0002"} {
				writeFile(t, filepath.Join(d, "images", n+".png"), []byte("junk"))
			}
			return []string{"eval", "--model", m, "--data", d, "--threads", "1"}
		}},
		badCase{name: "eval/label out of range --strict", want: []string{"0002.png", "77"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			d := dataCopy(t, dir, "val", "v")
			p := filepath.Join(d, "labels", "0002.png")
			g := readGray(t, p)
			g.SetGray(0, 0, color.Gray{Y: 77})
			writePNG(t, p, g)
			return []string{"eval", "--model", m, "--data", d, "--threads", "1", "--strict"}
		}},
		badCase{name: "eval/image and label sizes differ --strict", want: []string{"0000.png"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			d := dataCopy(t, dir, "val", "v")
			writePNG(t, filepath.Join(d, "labels", "0000.png"), image.NewGray(image.Rect(0, 0, 100, 50)))
			return []string{"eval", "--model", m, "--data", d, "--threads", "1", "--strict"}
		}},
		badCase{name: "eval/empty data folder", want: []string{"emptyds"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			os.MkdirAll(filepath.Join(dir, "emptyds", "images"), 0o755)
			os.MkdirAll(filepath.Join(dir, "emptyds", "labels"), 0o755)
			return []string{"eval", "--model", m, "--data", filepath.Join(dir, "emptyds")}
		}},
		badCase{name: "eval/bad mode", want: []string{"sideways"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			return []string{"eval", "--model", m, "--data", filepath.Join(synthData(t), "val"), "--mode", "sideways"}
		}},
		badCase{name: "eval/json into a missing folder", want: []string{"report.json"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			return []string{"eval", "--model", m, "--data", filepath.Join(synthData(t), "val"), "--threads", "1", "--json", filepath.Join(dir, "no", "such", "report.json")}
		}},
		badCase{name: "eval/json onto a folder", want: []string{"report.json"}, setup: func(t *testing.T, dir string) []string {
			// Not /dev/full: reports are written atomically (temp file + rename), which as root would
			// replace the device node.
			_, m := trainedRun(t)
			os.MkdirAll(filepath.Join(dir, "report.json", "x"), 0o755)
			return []string{"eval", "--model", m, "--data", filepath.Join(synthData(t), "val"), "--threads", "1", "--json", filepath.Join(dir, "report.json")}
		}},
		badCase{name: "eval run/missing run folder", want: []string{"norun"}, setup: func(t *testing.T, dir string) []string {
			return []string{"eval", "--run", filepath.Join(dir, "norun"), "--data", filepath.Join(synthData(t), "val")}
		}},
		badCase{name: "eval run/no checkpoint", want: []string{"checkpoint"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			os.Remove(filepath.Join(dir, "run", "last.ckpt"))
			os.Remove(filepath.Join(dir, "run", "best.ckpt"))
			return []string{"eval", "--run", filepath.Join(dir, "run"), "--data", filepath.Join(synthData(t), "val")}
		}},
		badCase{name: "eval run/backbone changed", want: []string{"sha256"}, setup: func(t *testing.T, dir string) []string {
			return []string{"eval", "--run", runWithBackbone(t, dir, true), "--data", filepath.Join(synthData(t), "val")}
		}},
		badCase{name: "eval run/backbone gone", want: []string{"bb.onnx"}, setup: func(t *testing.T, dir string) []string {
			return []string{"eval", "--run", runWithBackbone(t, dir, false), "--data", filepath.Join(synthData(t), "val")}
		}},
		badCase{name: "eval merge/different classes", want: []string{"five.json"}, setup: func(t *testing.T, dir string) []string {
			a, b := filepath.Join(dir, "twelve.json"), filepath.Join(dir, "five.json")
			writeReportJSON(t, a, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}, 0)
			writeReportJSON(t, b, []string{"a", "b", "c", "d", "e"}, 1)
			return []string{"eval", "merge", a, b}
		}},
		badCase{name: "eval merge/renamed classes", want: []string{"other.json"}, setup: func(t *testing.T, dir string) []string {
			a, b := filepath.Join(dir, "one.json"), filepath.Join(dir, "other.json")
			writeReportJSON(t, a, []string{"road", "car"}, 0)
			writeReportJSON(t, b, []string{"road", "bus"}, 1)
			return []string{"eval", "merge", a, b}
		}},
		badCase{name: "eval merge/corrupt report", want: []string{"broken.json"}, setup: func(t *testing.T, dir string) []string {
			a, b := filepath.Join(dir, "one.json"), filepath.Join(dir, "broken.json")
			writeReportJSON(t, a, []string{"road", "car"}, 0)
			writeFile(t, b, []byte(`{"names": ["road", "car"], "confusion": {`))
			return []string{"eval", "merge", a, b}
		}},
		badCase{name: "eval merge/matrix of the wrong size", want: []string{"short.json"}, setup: func(t *testing.T, dir string) []string {
			a, b := filepath.Join(dir, "one.json"), filepath.Join(dir, "short.json")
			writeReportJSON(t, a, []string{"road", "car"}, 0)
			var v map[string]any
			json.Unmarshal(readFile(t, a), &v)
			shrinkMatrix(v)
			v["shards"] = []string{"1/2"}
			nb, _ := json.Marshal(v)
			writeFile(t, b, nb)
			return []string{"eval", "merge", a, b}
		}},
		badCase{name: "eval merge/missing report", want: []string{"nothere.json"}, setup: func(t *testing.T, dir string) []string {
			a := filepath.Join(dir, "one.json")
			writeReportJSON(t, a, []string{"road", "car"}, 0)
			return []string{"eval", "merge", a, filepath.Join(dir, "nothere.json")}
		}},
		badCase{name: "eval merge/no reports", want: []string{"merge"}, setup: func(t *testing.T, dir string) []string {
			return []string{"eval", "merge"}
		}},

		// export.
		badCase{name: "export/missing run", want: []string{"norun"}, setup: func(t *testing.T, dir string) []string {
			return []string{"export", "--run", filepath.Join(dir, "norun"), "--out", filepath.Join(dir, "m.onnx")}
		}},
		badCase{name: "export/run without checkpoint", want: []string{"checkpoint"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			os.Remove(filepath.Join(dir, "run", "last.ckpt"))
			os.Remove(filepath.Join(dir, "run", "best.ckpt"))
			return []string{"export", "--run", filepath.Join(dir, "run"), "--out", filepath.Join(dir, "m.onnx")}
		}},
		badCase{name: "export/corrupt best.ckpt", want: []string{"best.ckpt"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			p := filepath.Join(dir, "run", "best.ckpt")
			b := readFile(t, p)
			writeFile(t, p, b[:len(b)-9])
			return []string{"export", "--run", filepath.Join(dir, "run"), "--out", filepath.Join(dir, "m.onnx")}
		}},
		badCase{name: "export/backbone changed", want: []string{"sha256"}, setup: func(t *testing.T, dir string) []string {
			return []string{"export", "--run", runWithBackbone(t, dir, true), "--out", filepath.Join(dir, "m.onnx")}
		}},
		badCase{name: "export/out under a file", want: []string{"afile"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			writeFile(t, filepath.Join(dir, "afile"), []byte("x"))
			return []string{"export", "--run", r, "--out", filepath.Join(dir, "afile", "m.onnx"), "--threads", "1"}
		}},
		badCase{name: "export/bad output kind", want: []string{"scores"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			return []string{"export", "--run", r, "--out", filepath.Join(dir, "m.onnx"), "--output", "scores"}
		}},
		badCase{name: "export/bad probe", want: []string{"--probe"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			return []string{"export", "--run", r, "--out", filepath.Join(dir, "m.onnx"), "--probe", "-3x4"}
		}},

		// predict.
		badCase{name: "predict/missing image", want: []string{"nope.png"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			return []string{"predict", "--model", m, "--out", filepath.Join(dir, "pred"), filepath.Join(dir, "nope.png")}
		}},
		badCase{name: "predict/image fails to decode --strict", want: []string{"bad.png"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			writeFile(t, filepath.Join(dir, "bad.png"), []byte("\x89PNG\r\n\x1a\nshort"))
			return []string{"predict", "--model", m, "--out", filepath.Join(dir, "pred"), "--strict", "--threads", "1", filepath.Join(dir, "bad.png")}
		}},
		badCase{name: "predict/every image fails to decode", want: []string{"junk.png"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			writeFile(t, filepath.Join(dir, "imgs", "junk.png"), []byte("junk"))
			return []string{"predict", "--model", m, "--out", filepath.Join(dir, "pred"), "--threads", "1", filepath.Join(dir, "imgs")}
		}},
		badCase{name: "predict/empty folder", want: []string{"noimgs"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			os.MkdirAll(filepath.Join(dir, "noimgs"), 0o755)
			return []string{"predict", "--model", m, "--out", filepath.Join(dir, "pred"), filepath.Join(dir, "noimgs")}
		}},
		badCase{name: "predict/out is a file", want: []string{"outfile"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			writeFile(t, filepath.Join(dir, "outfile"), []byte("x"))
			return []string{"predict", "--model", m, "--out", filepath.Join(dir, "outfile"), "--threads", "1",
				filepath.Join(synthData(t), "val", "images", "0000.png")}
		}},
		badCase{name: "predict/no images", want: []string{"predict"}, setup: func(t *testing.T, dir string) []string {
			_, m := trainedRun(t)
			return []string{"predict", "--model", m, "--out", filepath.Join(dir, "pred")}
		}},
		badCase{name: "predict run/missing run", want: []string{"norun"}, setup: func(t *testing.T, dir string) []string {
			return []string{"predict", "--run", filepath.Join(dir, "norun"), "--out", filepath.Join(dir, "pred"),
				filepath.Join(synthData(t), "val", "images", "0000.png")}
		}},

		// inspect, synth.
		badCase{name: "inspect/bad probe", want: []string{"--probe"}, setup: func(t *testing.T, dir string) []string {
			return []string{"inspect", "--probe", "big", dyn}
		}},
		badCase{name: "inspect/two models", want: []string{"one argument"}, setup: func(t *testing.T, dir string) []string {
			return []string{"inspect", dyn, static}
		}},
		badCase{name: "synth/bad size", want: []string{"--size"}, setup: func(t *testing.T, dir string) []string {
			return []string{"synth", "--out", filepath.Join(dir, "s"), "--size", "axb"}
		}},
		badCase{name: "synth/out under a file", want: []string{"afile"}, setup: func(t *testing.T, dir string) []string {
			writeFile(t, filepath.Join(dir, "afile"), []byte("x"))
			return []string{"synth", "--out", filepath.Join(dir, "afile", "s"), "--train", "2", "--val", "1", "--size", "32x64"}
		}},
		badCase{name: "demo/out under a file", want: []string{"afile"}, setup: func(t *testing.T, dir string) []string {
			writeFile(t, filepath.Join(dir, "afile"), []byte("x"))
			return []string{"demo", "--out", filepath.Join(dir, "afile", "demo"), "--quick"}
		}},
		badCase{name: "unknown command", want: []string{"frobnicate"}, setup: func(t *testing.T, dir string) []string {
			return []string{"frobnicate"}
		}},

		// Second hardening round (each of these panicked or exited 0 before).
		badCase{name: "train/every label is the ignore label", want: []string{"labelled pixel", "--ignore"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			relabel(t, d, func(pix []uint8) {
				for i := range pix {
					pix[i] = 255
				}
			})
			return trainOn(t, d, filepath.Join(dir, "run"))
		}},
		badCase{name: "train/--ignore 0 on labels with 255", want: []string{"255", "--ignore"}, setup: func(t *testing.T, dir string) []string {
			d := dataCopy(t, dir, "train", "d")
			relabel(t, d, func(pix []uint8) {
				for i := range pix[:len(pix)/4] {
					pix[i] = 255
				}
			})
			return trainOn(t, d, filepath.Join(dir, "run"), "--ignore", "0")
		}},
		badCase{name: "eval/run checkpoint from another run", want: []string{"best.ckpt", "another run"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			other := filepath.Join(dir, "other")
			if res := runApp(trainOn(t, filepath.Join(synthData(t), "train"), other, "--head", "fcn", "--hidden", "8", "--val-data", filepath.Join(synthData(t), "val"))...); res.err != nil {
				t.Fatal(res.err)
			}
			writeFile(t, filepath.Join(dir, "run", "best.ckpt"), readFile(t, filepath.Join(other, "best.ckpt")))
			return []string{"eval", "--run", filepath.Join(dir, "run"), "--data", filepath.Join(synthData(t), "val"), "--threads", "1"}
		}},
		badCase{name: "eval/run config feature edited", want: []string{"channels"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			run := filepath.Join(dir, "run")
			copyDir(t, r, run)
			p := filepath.Join(run, "config.json")
			writeFile(t, p, bytes.Replace(readFile(t, p), []byte(`"feature": "feat_s4"`), []byte(`"feature": "image"`), 1))
			return []string{"eval", "--run", run, "--data", filepath.Join(synthData(t), "val"), "--threads", "1"}
		}},
		trainWith("train/fcn batch norm on one value per channel", []string{"--batch"}, "--head", "fcn", "--hidden", "8", "--batch", "1", "--crop", "4x4"),
		badCase{name: "train/resume with another optimizer", want: []string{"optimizer", "--resume"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"), "--resume", "--optimizer", "adamw", "--iters", "20")
		}},
		badCase{name: "train/resume with another lr", want: []string{"lr", "--resume"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			return []string{"train", "--out", filepath.Join(dir, "run"), "--resume", "--lr", "0.5", "--iters", "20", "--quiet", "--threads", "1"}
		}},
		badCase{name: "train/resume with fewer iters than done", want: []string{"--iters", "10"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			copyDir(t, r, filepath.Join(dir, "run"))
			return []string{"train", "--out", filepath.Join(dir, "run"), "--resume", "--iters", "5", "--quiet", "--threads", "1"}
		}},
		badCase{name: "eval/slide stride larger than the window", want: []string{"--stride"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			return []string{"eval", "--run", r, "--data", filepath.Join(synthData(t), "val"), "--mode", "slide", "--crop", "32x32", "--stride", "100x100", "--threads", "1"}
		}},
		badCase{name: "eval/classes in another order", want: []string{"same class"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			d := dataCopy(t, dir, "val", "v")
			lines := strings.Split(strings.TrimSpace(string(readFile(t, filepath.Join(d, "classes.txt")))), "\n")
			lines[0], lines[1] = lines[1], lines[0]
			writeFile(t, filepath.Join(d, "classes.txt"), []byte(strings.Join(lines, "\n")+"\n"))
			return []string{"eval", "--run", r, "--data", d, "--threads", "1"}
		}},
		badCase{name: "eval merge/one shard twice", want: []string{"twice"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			p := filepath.Join(dir, "s0.json")
			if res := runApp("eval", "--run", r, "--data", filepath.Join(synthData(t), "val"), "--threads", "1", "--shard", "0/2", "--json", p); res.err != nil {
				t.Fatal(res.err)
			}
			return []string{"eval", "merge", p, p}
		}},
		badCase{name: "eval merge/missing shard", want: []string{"missing"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			p := filepath.Join(dir, "s0.json")
			if res := runApp("eval", "--run", r, "--data", filepath.Join(synthData(t), "val"), "--threads", "1", "--shard", "0/2", "--json", p); res.err != nil {
				t.Fatal(res.err)
			}
			return []string{"eval", "merge", p}
		}},
		badCase{name: "train/threads 1000", want: []string{"--threads", "1000"}, setup: func(t *testing.T, dir string) []string {
			return append(trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run")), "--threads", "1000")
		}},
		trainWith("train/negative warmup", []string{"--warmup", "-5"}, "--warmup", "-5"),
		trainWith("train/negative ckpt-every", []string{"--ckpt-every", "-1"}, "--ckpt-every", "-1"),
		trainWith("train/topk 0", []string{"--topk", "0"}, "--loss", "topk", "--topk", "0"),
		badCase{name: "export/negative tolerance", want: []string{"--tolerance", "-1"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			return []string{"export", "--run", r, "--out", filepath.Join(dir, "m.onnx"), "--tolerance", "-1", "--threads", "1"}
		}},
		badCase{name: "export/NaN tolerance", want: []string{"--tolerance", "NaN"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			return []string{"export", "--run", r, "--out", filepath.Join(dir, "m.onnx"), "--tolerance", "NaN", "--threads", "1"}
		}},
		badCase{name: "export/out is the run's backbone", want: []string{"backbone"}, setup: func(t *testing.T, dir string) []string {
			bb := filepath.Join(dir, "bb.onnx")
			writeFile(t, bb, readFile(t, dyn))
			run := filepath.Join(dir, "run")
			a := trainOn(t, filepath.Join(synthData(t), "train"), run)
			a[2] = bb
			if res := runApp(a...); res.err != nil {
				t.Fatal(res.err)
			}
			return []string{"export", "--run", run, "--out", bb, "--threads", "1"}
		}},
		badCase{name: "train/out holds a train.csv but no run", want: []string{"train.csv", "--force"}, setup: func(t *testing.T, dir string) []string {
			writeFile(t, filepath.Join(dir, "run", "train.csv"), []byte("my,own,numbers\n"))
			return trainOn(t, filepath.Join(synthData(t), "train"), filepath.Join(dir, "run"))
		}},
		badCase{name: "train/run folder in use", want: []string{"in use"}, setup: func(t *testing.T, dir string) []string {
			run := filepath.Join(dir, "run")
			os.MkdirAll(run, 0o755)
			release, err := train.Lock(run)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(release)
			return trainOn(t, filepath.Join(synthData(t), "train"), run)
		}},
		badCase{name: "predict/alpha 2", want: []string{"--alpha", "2"}, setup: func(t *testing.T, dir string) []string {
			r, _ := trainedRun(t)
			return []string{"predict", "--run", r, "--out", filepath.Join(dir, "pred"), "--overlay", "--alpha", "2", "--threads", "1",
				filepath.Join(synthData(t), "val", "images")}
		}},
	)
	return cases
}

// runWithBackbone trains a short run on a private copy of the backbone, then changes the copy
// (changed) or removes it.
func runWithBackbone(t testing.TB, dir string, changed bool) string {
	t.Helper()
	bb := filepath.Join(dir, "bb.onnx")
	writeFile(t, bb, readFile(t, modelPath("tiny_dyn_s4.onnx")))
	run := filepath.Join(dir, "run")
	a := trainArgs(synthData(t), run, "--iters", "2", "--loss", "ce")
	for i := range a {
		if a[i] == "--backbone" {
			a[i+1] = bb
		}
	}
	mustRun(t, a...)
	if changed {
		// Append model_version (field 5, varint) = 7: still a valid model, with another sha256.
		f, err := os.OpenFile(bb, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{5 << 3, 7})
		f.Close()
	} else {
		os.Remove(bb)
	}
	return run
}

// writeReportJSON writes an eval --json report for shard i/2 over classes, with a small
// confusion matrix, through the metrics package.
func writeReportJSON(t testing.TB, path string, classes []string, i int) {
	t.Helper()
	r := metrics.NewResult(classes, metrics.Shard{I: i, N: 2})
	gt := make([]int32, 20)
	pred := make([]int32, 20)
	for k := range gt {
		gt[k] = int32(k % len(classes))
		pred[k] = int32((k / 2) % len(classes))
	}
	r.Conf.Add(gt, pred, 255)
	r.Images = 1
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
}

// shrinkMatrix removes the last row of the confusion matrix in a decoded report.
func shrinkMatrix(v map[string]any) {
	for _, k := range []string{"confusion", "conf", "Conf"} {
		c, ok := v[k]
		if !ok {
			continue
		}
		switch c := c.(type) {
		case map[string]any:
			for _, mk := range []string{"M", "m", "matrix"} {
				if m, ok := c[mk].([]any); ok && len(m) > 0 {
					c[mk] = m[:len(m)-1]
				}
			}
		case []any:
			if len(c) > 0 {
				v[k] = c[:len(c)-1]
			}
		}
	}
}

// tinyTmpfs mounts a tmpfs of the given size in dir and unmounts it at the end of the test.
func tinyTmpfs(t testing.TB, dir, size string) string {
	t.Helper()
	mnt := filepath.Join(dir, "tmpfs")
	os.MkdirAll(mnt, 0o755)
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs (%v)", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	return mnt
}

func tmpfsSkip() string {
	if os.Geteuid() != 0 {
		return "mounting a tmpfs needs root"
	}
	return ""
}

// checkBadResult checks the invariants of a failed run: non-zero code, no panic, one error line
// that contains every string in want.
func checkBadResult(t *testing.T, code int, stderr string, panicked any, want []string) {
	t.Helper()
	if panicked != nil {
		t.Fatalf("panic: %v\n%s", panicked, stderr)
	}
	if code == 0 {
		t.Fatalf("exit code 0, want non-zero\nstderr:\n%s", stderr)
	}
	if strings.Contains(stderr, "DATA RACE") {
		t.Fatalf("data race:\n%s", stderr)
	}
	if strings.Contains(stderr, "panic:") || strings.Contains(stderr, "goroutine ") {
		t.Fatalf("stderr shows a panic:\n%s", stderr)
	}
	var errLines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "lmpseg:") || strings.HasPrefix(l, "Incorrect Usage") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 {
		t.Fatalf("want exactly one error line, got %d:\n%s", len(errLines), stderr)
	}
	for _, w := range want {
		if !strings.Contains(errLines[0], w) {
			t.Errorf("error line does not name %q:\n%s", w, errLines[0])
		}
	}
}

// TestBadInput runs every bad input through the app in-process, as main would, and checks for
// a non-zero exit code, no panic and one error line naming the offending file or value.
func TestBadInput(t *testing.T) {
	cases := badInputCases()
	tried := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, args := c.prepare(t)
			for _, kv := range c.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			tried++
			r := runApp(args...)
			t.Logf("lmpseg %s\n-> %s", strings.Join(args, " "), strings.TrimSpace(r.stderr))
			checkBadResult(t, r.code, r.stderr, r.panic, c.want)
		})
	}
	t.Logf("bad inputs tried in-process: %d of %d cases", tried, len(cases))
}

// TestBadInputProcess runs the same cases through the built binary, where a panic in any
// goroutine shows, and the real stderr is what a user sees.
func TestBadInputProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the in-process test covers the same cases")
	}
	cases := badInputCases()
	tried := 0
	t.Cleanup(func() { t.Logf("bad inputs tried as a process: %d of %d cases", tried, len(cases)) })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, args := c.prepare(t)
			tried++
			// Set-up runs one case at a time; the processes run two at a time.
			t.Parallel()
			_, stderr, code := runBinEnv(t, dir, c.env, args...)
			checkBadResult(t, code, stderr, nil, c.want)
		})
	}
}

// TestDiskFullKeepsRun fills a small tmpfs during training: the run stops with an error that
// names the file and says the disk may be full, leaves no temporary files, still loads, and
// resumes from its last checkpoint once there is space again.
func TestDiskFullKeepsRun(t *testing.T) {
	if why := tmpfsSkip(); why != "" {
		t.Skip(why)
	}
	dir := fastTempDir(t)
	mnt := tinyTmpfs(t, dir, "256k")
	filler := filepath.Join(mnt, "filler")
	// Leave room for the config, the logs of a few steps and a checkpoint (about 2 KiB); the
	// whole run needs about 70 KiB.
	if err := os.WriteFile(filler, make([]byte, 240<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(mnt, "run")
	args := trainArgs(synthData(t), run, "--iters", "200", "--ckpt-every", "1", "--loss", "ce")
	r := runApp(args...)
	checkBadResult(t, r.code, r.stderr, r.panic, []string{run, "no space left"})
	checkRunLoads(t, run)
	ents, _ := os.ReadDir(run)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("failed write left %s", e.Name())
		}
	}
	it := ckptIter(t, run)
	t.Logf("disk full after checkpoint %d: %s", it, strings.TrimSpace(r.stderr))
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, append(args, "--resume")...)
	if ck := ckptIter(t, run); ck != 200 {
		t.Errorf("resumed run ended at iteration %d, want 200", ck)
	}
	if n := len(csvLosses(t, run)); n != 200 {
		t.Errorf("train.csv of the resumed run has %d steps, want 200", n)
	}
}
