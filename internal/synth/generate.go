package synth

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Options controls Generate. Zero fields take the defaults.
type Options struct {
	Seed       int64 // base seed; every image has its own stream derived from it
	Train, Val int   // images per split (defaults 120 and 40)
	H, W       int   // image size (defaults 256 x 512)
	Workers    int   // parallel workers (default GOMAXPROCS); does not change the output
}

func (o Options) withDefaults() (Options, error) {
	if o.Train < 0 || o.Val < 0 || o.H < 0 || o.W < 0 || o.Workers < 0 {
		return o, fmt.Errorf("synth: negative option in %+v", o)
	}
	o.Train, o.Val = cmp.Or(o.Train, 120), cmp.Or(o.Val, 40)
	o.H, o.W = cmp.Or(o.H, 256), cmp.Or(o.W, 512)
	if o.H < 32 || o.W < 32 {
		return o, fmt.Errorf("synth: image size %dx%d below 32x32", o.H, o.W)
	}
	o.Workers = cmp.Or(o.Workers, runtime.GOMAXPROCS(0))
	return o, nil
}

// Splits are the split folders Generate writes, in order.
var Splits = []string{"train", "val"}

// Scene renders image i of a split ("train" or "val") for a seed: an RGB
// picture and its label map of class indices. It is what Generate writes to
// DIR/split/images/NNNN.png and DIR/split/labels/NNNN.png.
func Scene(seed int64, split string, i, h, w int) (*image.RGBA, *image.Gray) {
	var k uint64
	for j, s := range Splits {
		if s == split {
			k = uint64(j) + 1
		}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), k<<40|uint64(i)))
	return newScene(rng, h, w).render()
}

// Generate writes a synthetic street-scene dataset into dir in the folder
// layout: dir/{train,val}/images/NNNN.png (RGB), dir/{train,val}/labels/NNNN.png
// (8-bit class indices) and dir/{train,val}/classes.txt (one class name per
// line, in label order). The output depends only on o.Seed, o.Train, o.Val,
// o.H and o.W.
func Generate(dir string, o Options) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	type job struct {
		split string
		i     int
	}
	var jobs []job
	for _, sp := range Splits {
		n := o.Train
		if sp == "val" {
			n = o.Val
		}
		for _, sub := range []string{"images", "labels"} {
			if err := os.MkdirAll(filepath.Join(dir, sp, sub), 0o755); err != nil {
				return fmt.Errorf("synth: %w", err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, sp, "classes.txt"), []byte(strings.Join(Classes[:], "\n")+"\n"), 0o644); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
		for i := range n {
			jobs = append(jobs, job{sp, i})
		}
	}
	ch := make(chan job)
	errs := make([]error, o.Workers)
	var wg sync.WaitGroup
	for wk := range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc := png.Encoder{CompressionLevel: png.BestSpeed}
			var buf bytes.Buffer
			for j := range ch {
				if errs[wk] != nil {
					continue
				}
				img, lab := Scene(o.Seed, j.split, j.i, o.H, o.W)
				name := fmt.Sprintf("%04d.png", j.i)
				for _, f := range []struct {
					sub string
					im  image.Image
				}{{"images", img}, {"labels", lab}} {
					buf.Reset()
					if err := enc.Encode(&buf, f.im); err != nil {
						errs[wk] = fmt.Errorf("synth: encode %s/%s/%s: %w", j.split, f.sub, name, err)
						break
					}
					if err := os.WriteFile(filepath.Join(dir, j.split, f.sub, name), buf.Bytes(), 0o644); err != nil {
						errs[wk] = fmt.Errorf("synth: %w", err)
						break
					}
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return errors.Join(errs...)
}

// SplitStats counts the label pixels of one split.
type SplitStats struct {
	Images  int
	Pixels  []int64 // per class
	Present []int   // images in which each class occurs
	Ignored int64   // pixels with Ignore or a value outside the classes
}

// Total is the number of labelled (not ignored) pixels.
func (s *SplitStats) Total() int64 {
	var t int64
	for _, p := range s.Pixels {
		t += p
	}
	return t
}

// Freq returns the fraction of labelled pixels of each class.
func (s *SplitStats) Freq() []float64 {
	f := make([]float64, len(s.Pixels))
	t := float64(s.Total())
	for i, p := range s.Pixels {
		if t > 0 {
			f[i] = float64(p) / t
		}
	}
	return f
}

// DatasetStats holds the class statistics of a generated dataset.
type DatasetStats struct {
	Classes []string
	Splits  map[string]*SplitStats
}

// Stats reads the classes and label maps of every split folder under dir that
// exists and counts the class pixels.
func Stats(dir string) (*DatasetStats, error) {
	ds := &DatasetStats{Splits: map[string]*SplitStats{}}
	for _, sp := range Splits {
		cls, err := readClasses(filepath.Join(dir, sp, "classes.txt"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if ds.Classes == nil {
			ds.Classes = cls
		} else if strings.Join(cls, "\n") != strings.Join(ds.Classes, "\n") {
			return nil, fmt.Errorf("synth: %s: classes differ between splits", dir)
		}
		st := &SplitStats{Pixels: make([]int64, len(cls)), Present: make([]int, len(cls))}
		files, err := filepath.Glob(filepath.Join(dir, sp, "labels", "*.png"))
		if err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
		seen := make([]bool, len(cls))
		for _, f := range files {
			g, err := readGray(f)
			if err != nil {
				return nil, err
			}
			clear(seen)
			b := g.Bounds()
			for y := 0; y < b.Dy(); y++ {
				for _, v := range g.Pix[y*g.Stride : y*g.Stride+b.Dx()] {
					if int(v) >= len(cls) {
						st.Ignored++
						continue
					}
					st.Pixels[v]++
					seen[v] = true
				}
			}
			for k, s := range seen {
				if s {
					st.Present[k]++
				}
			}
			st.Images++
		}
		ds.Splits[sp] = st
	}
	if len(ds.Splits) == 0 {
		return nil, fmt.Errorf("synth: %s: no split folder with classes.txt", dir)
	}
	return ds, nil
}

func readClasses(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	defer f.Close()
	var cls []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			cls = append(cls, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("synth: %s: %w", path, err)
	}
	if len(cls) == 0 || len(cls) > 255 {
		return nil, fmt.Errorf("synth: %s: %d classes", path, len(cls))
	}
	return cls, nil
}

func readGray(path string) (*image.Gray, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	defer f.Close()
	im, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("synth: %s: %w", path, err)
	}
	g, ok := im.(*image.Gray)
	if !ok {
		return nil, fmt.Errorf("synth: %s: label is %T, want 8-bit grey", path, im)
	}
	return g, nil
}
