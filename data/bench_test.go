package data

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var benchSizes = []struct {
	name       string
	h, w, crop int
}{
	{"Small", 256, 512, 128},
	{"Large", 1024, 2048, 512},
}

// benchFolder writes one JPEG image and its label to a folder dataset.
func benchFolder(b *testing.B, h, w int) Dataset {
	dir := b.TempDir()
	r := rand.New(rand.NewPCG(1, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	lab := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 128 + 100*math.Sin(float64(x)/37)*math.Cos(float64(y)/23)
			img.SetRGBA(x, y, color.RGBA{uint8(v), uint8(r.IntN(40) + 60), uint8(255 - v), 255})
			lab.Pix[y*w+x] = uint8((x/64 + y/64) % 19)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	writeFile(b, filepath.Join(dir, "images", "x.jpg"), buf.Bytes())
	writeFile(b, filepath.Join(dir, "labels", "x.png"), encodePNG(b, lab))
	ds, err := Open(dir, "folder", Options{NumClasses: 19})
	if err != nil {
		b.Fatal(err)
	}
	return ds
}

// refLoadAugment is the baseline: the same decode and augmentation built
// from the plain reference kernels.
func refLoadAugment(b *testing.B, ds Dataset, a Augment, r *rand.Rand) *Sample {
	fd := ds.(*fileDataset)
	raw, err := os.ReadFile(fd.items[0].image)
	if err != nil {
		b.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	h, w := img.Bounds().Dy(), img.Bounds().Dx()
	s := &Sample{H: h, W: w, Image: make([]float32, 3*h*w)}
	imageToFloatRef(s.Image, img)
	s.Label, _, _, err = fd.LoadLabel(0)
	if err != nil {
		b.Fatal(err)
	}
	f := a.ScaleMin + r.Float64()*(a.ScaleMax-a.ScaleMin)
	nh, nw := int(math.Round(float64(h)*f)), int(math.Round(float64(w)*f))
	out := &Sample{H: nh, W: nw, Image: make([]float32, 3*nh*nw), Label: make([]int32, nh*nw)}
	resizeBilinearRef(out.Image, s.Image, 3, h, w, nh, nw)
	ResizeNearest(out.Label, s.Label, h, w, nh, nw)
	c := Crop(out, r.IntN(max(nh, a.CropH)-a.CropH+1), r.IntN(max(nw, a.CropW)-a.CropW+1), a.CropH, a.CropW, a.Pad, 255)
	if r.IntN(2) == 1 {
		FlipH(c)
	}
	return c
}

// BenchmarkDecodeAugment measures decoding a JPEG image and its PNG label,
// augmenting (scale 0.5..2, crop, flip) and normalising; "ref" is the same
// work with the plain reference kernels, as the baseline.
func BenchmarkDecodeAugment(b *testing.B) {
	for _, sz := range benchSizes {
		ds := benchFolder(b, sz.h, sz.w)
		a := Augment{ScaleMin: 0.5, ScaleMax: 2, CropH: sz.crop, CropW: sz.crop, Flip: true, Pad: ImageNet255.MeanPixel()}
		dst := make([]float32, 3*sz.crop*sz.crop)
		b.Run(sz.name+"/fast", func(b *testing.B) {
			r := rand.New(rand.NewPCG(7, 7))
			for b.Loop() {
				s, err := ds.Load(0)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Apply(s, r); err != nil {
					b.Fatal(err)
				}
				ImageNet255.Apply(dst, s)
			}
		})
		b.Run(sz.name+"/ref", func(b *testing.B) {
			r := rand.New(rand.NewPCG(7, 7))
			for b.Loop() {
				s := refLoadAugment(b, ds, a, r)
				ImageNet255.Apply(dst, s)
			}
		})
	}
}

// BenchmarkResizeBilinear measures 2x bilinear upsampling of a 3-channel
// image against the reference.
func BenchmarkResizeBilinear(b *testing.B) {
	for _, sz := range benchSizes {
		src := randSample(rand.New(rand.NewPCG(1, 2)), sz.h/2, sz.w/2, 2).Image
		dst := make([]float32, 3*sz.h*sz.w)
		b.Run(sz.name+"/fast", func(b *testing.B) {
			for b.Loop() {
				ResizeBilinear(dst, src, 3, sz.h/2, sz.w/2, sz.h, sz.w)
			}
		})
		b.Run(sz.name+"/ref", func(b *testing.B) {
			for b.Loop() {
				resizeBilinearRef(dst, src, 3, sz.h/2, sz.w/2, sz.h, sz.w)
			}
		})
	}
}
