package cli

import (
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
)

var predictCommand = &cli.Command{
	Name:      "predict",
	Usage:     "write label and colour masks for images",
	ArgsUsage: "IMAGE|FOLDER ...",
	Description: "Runs an exported model (--model) or a run folder (--run) on images (files or folders of\n" +
		"png/jpg) and writes, per image, NAME_labels.png (class index per pixel), NAME_color.png (the\n" +
		"dataset palette: Cityscapes and VOC built in, a generated one otherwise) and with --overlay\n" +
		"NAME_overlay.png (the mask blended over the image). A --model's output is read as 'lmpseg inspect'\n" +
		"shows (NCHW or NHWC scores, a one-channel binary map giving masks of 0 and 1, a label map);\n" +
		"--output, --output-layout and --binary-threshold override it.",
	Flags: append(append(append([]cli.Flag{
		&cli.StringFlag{Name: "out", Usage: "output folder"},
		&cli.BoolFlag{Name: "overlay", Usage: "also write the mask blended over the image"},
		&cli.Float64Flag{Name: "alpha", Value: 0.5, Usage: "overlay opacity of the mask"},
		&cli.BoolFlag{Name: "strict", Usage: "stop at an image that fails to decode (default: name it and go on)"},
	}, modelFlags...), preprocessFlags...), runtimeFlags...),
	Action: runPredict,
}

// expandImages lists the image files named by args (files, or folders searched one level deep).
func expandImages(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, errors.Unwrap(err))
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var found []string
		for _, e := range ents {
			if !e.IsDir() && data.IsImage(e.Name()) {
				found = append(found, filepath.Join(a, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no images (png, jpg, bmp, tiff, webp) in this folder", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

func runPredict(c *cli.Context) error {
	out := c.String("out")
	if out == "" {
		return errors.New("--out is required: the folder for the masks")
	}
	if c.NArg() == 0 {
		return errors.New("predict needs images or folders of images as arguments")
	}
	if a := c.Float64("alpha"); !(a >= 0 && a <= 1) {
		return fmt.Errorf("--alpha %v: want a number in [0, 1]", a)
	}
	files, err := expandImages(c.Args().Slice())
	if err != nil {
		return err
	}
	stems := outputStems(files)
	lm, err := openModel(c)
	if err != nil {
		return err
	}
	defer lm.Close()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	pal := paletteOf(lm.Palette)
	if len(pal) == 0 {
		if len(lm.Classes) > 0 {
			pal = data.PaletteFor(lm.Classes)
		} else {
			pal = data.DistinctPalette(256)
		}
	}
	written, skipped := 0, 0
	for i, f := range files {
		img, err := decodeImageFile(f)
		if err != nil {
			if c.Bool("strict") {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "warning: skipping %s: %v (use --strict to stop instead)\n", f, err)
			skipped++
			continue
		}
		stem := stems[i]
		img.Name = stem
		lab, err := lm.Predict(img)
		if err != nil {
			return err
		}
		base := filepath.Join(out, stem)
		if err := data.WriteLabelPNG(base+"_labels.png", lab, img.H, img.W); err != nil {
			return err
		}
		if err := data.WriteColorPNG(base+"_color.png", lab, img.H, img.W, pal); err != nil {
			return err
		}
		if c.Bool("overlay") {
			ov, err := data.Overlay(data.FloatToImage(img.Image, img.H, img.W), data.ColorMask(lab, img.H, img.W, pal), c.Float64("alpha"))
			if err != nil {
				return err
			}
			if err := data.WritePNG(base+"_overlay.png", ov); err != nil {
				return err
			}
		}
		written++
	}
	if written == 0 && skipped > 0 {
		return fmt.Errorf("no masks written: all %d images failed to decode (first: %s; the warnings above say why)", skipped, files[0])
	}
	fmt.Fprintf(c.App.Writer, "wrote masks for %d images to %s", written, out)
	if skipped > 0 {
		fmt.Fprintf(c.App.Writer, " (%d skipped)", skipped)
	}
	fmt.Fprintln(c.App.Writer)
	return nil
}

// outputStems names the masks of files: the base name without extension, and where two inputs
// share it (a/img.png, b/img.jpg), the folder and extension too, so no mask overwrites another.
func outputStems(files []string) []string {
	stem := func(f string) string { return strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)) }
	count := map[string]int{}
	for _, f := range files {
		count[stem(f)]++
	}
	out := make([]string, len(files))
	used := map[string]bool{}
	for i, f := range files {
		s := stem(f)
		if count[s] > 1 {
			s = strings.NewReplacer(string(filepath.Separator), "_", ".", "_").Replace(strings.TrimPrefix(filepath.Clean(f), string(filepath.Separator)))
		}
		for k := 2; used[s]; k++ {
			s = fmt.Sprintf("%s_%d", stem(f), k)
		}
		used[s] = true
		out[i] = s
	}
	return out
}

// decodeImageFile reads one image into a Sample without a label.
func decodeImageFile(path string) (*data.Sample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pix, h, w, err := data.DecodeImage(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &data.Sample{Name: path, H: h, W: w, Image: pix}, nil
}

// paletteOf converts a palette from model metadata.
func paletteOf(p [][3]uint8) data.Palette {
	var out data.Palette
	for _, c := range p {
		out = append(out, color.RGBA{c[0], c[1], c[2], 255})
	}
	return out
}

// paletteRGB converts a palette for model metadata.
