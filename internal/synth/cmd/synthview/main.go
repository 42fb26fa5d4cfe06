// Command synthview generates a synthetic dataset and writes a contact sheet
// of images and colourised labels, with the class frequencies, for a visual
// check of the generator.
package main

import (
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"time"

	"github.com/lmpseg/lmpseg/internal/synth"
)

func main() {
	out := flag.String("out", "/tmp/synth", "dataset folder")
	sheet := flag.String("sheet", "", "contact sheet PNG to write (empty: none)")
	n := flag.Int("n", 4, "images on the sheet")
	first := flag.Int("first", 0, "first image on the sheet")
	seed := flag.Int64("seed", 1, "seed")
	split := flag.String("split", "train", "split shown on the sheet")
	flag.Parse()
	t := time.Now()
	if err := synth.Generate(*out, synth.Options{Seed: *seed}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("generated in %.2fs\n", time.Since(t).Seconds())
	st, err := synth.Stats(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, sp := range synth.Splits {
		s := st.Splits[sp]
		fmt.Printf("%s: %d images\n", sp, s.Images)
		for k, f := range s.Freq() {
			fmt.Printf("  %-13s %6.2f%%  in %3d images\n", st.Classes[k], 100*f, s.Present[k])
		}
	}
	if *sheet == "" {
		return
	}
	const h, w = 256, 512
	dst := image.NewRGBA(image.Rect(0, 0, 2*w, *n*h))
	for i := range *n {
		name := fmt.Sprintf("%04d.png", *first+i)
		im := load(filepath.Join(*out, *split, "images", name))
		lb := load(filepath.Join(*out, *split, "labels", name)).(*image.Gray)
		draw.Draw(dst, image.Rect(0, i*h, w, (i+1)*h), im, image.Point{}, draw.Src)
		draw.Draw(dst, image.Rect(w, i*h, 2*w, (i+1)*h), synth.Colorize(lb), image.Point{}, draw.Src)
	}
	f, _ := os.Create(*sheet)
	png.Encode(f, dst)
	f.Close()
}

func load(p string) image.Image {
	f, err := os.Open(p)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	im, err := png.Decode(f)
	if err != nil {
		panic(err)
	}
	return im
}
