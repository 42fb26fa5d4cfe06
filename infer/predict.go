package infer

import (
	"context"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"github.com/lmpseg/lmpseg/data"
)

// PredictOptions control PredictFiles.
type PredictOptions struct {
	Out     string  // folder of the masks (created)
	Overlay bool    // also write the mask blended over the image
	Alpha   float64 // overlay opacity of the mask, in [0, 1]
	Strict  bool    // stop at an image that fails to decode instead of skipping it
	// Warn, when set, receives a line for each skipped image.
	Warn func(msg string)
}

// PredictStats says what PredictFiles did.
type PredictStats struct {
	Written int
	Skipped []string
}

// PredictFiles predicts every image file and writes, per image, NAME_labels.png (the class index
// per pixel), NAME_color.png (the model's palette) and with o.Overlay NAME_overlay.png. Names are
// the files' base names, made unique where two inputs share one (see OutputStems).
func PredictFiles(ctx context.Context, m *Model, files []string, o PredictOptions) (PredictStats, error) {
	var st PredictStats
	if !(o.Alpha >= 0 && o.Alpha <= 1) {
		return st, fmt.Errorf("infer: --alpha %v: want a number in [0, 1]", o.Alpha)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return st, fmt.Errorf("infer: %w", err)
	}
	pal := m.MaskPalette()
	stems := OutputStems(files)
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		img, err := data.LoadImage(f)
		if err != nil {
			if o.Strict {
				return st, err
			}
			if o.Warn != nil {
				o.Warn(fmt.Sprintf("skipping %s: %v (use --strict to stop instead)", f, err))
			}
			st.Skipped = append(st.Skipped, f)
			continue
		}
		img.Name = stems[i]
		lab, err := m.Predict(img)
		if err != nil {
			return st, err
		}
		base := filepath.Join(o.Out, stems[i])
		if err := data.WriteLabelPNG(base+"_labels.png", lab, img.H, img.W); err != nil {
			return st, err
		}
		if err := data.WriteColorPNG(base+"_color.png", lab, img.H, img.W, pal); err != nil {
			return st, err
		}
		if o.Overlay {
			ov, err := data.Overlay(data.FloatToImage(img.Image, img.H, img.W), data.ColorMask(lab, img.H, img.W, pal), o.Alpha)
			if err != nil {
				return st, err
			}
			if err := data.WritePNG(base+"_overlay.png", ov); err != nil {
				return st, err
			}
		}
		st.Written++
	}
	if st.Written == 0 && len(st.Skipped) > 0 {
		return st, fmt.Errorf("infer: no masks written: all %d images failed to decode (first: %s; the warnings above say why)", len(st.Skipped), st.Skipped[0])
	}
	return st, nil
}

// MaskPalette is the palette of m's masks: its metadata's, else the one for its classes, else 256
// distinct colours.
func (m *Model) MaskPalette() data.Palette {
	var pal data.Palette
	for _, c := range m.Palette {
		pal = append(pal, color.RGBA{c[0], c[1], c[2], 255})
	}
	switch {
	case len(pal) > 0:
		return pal
	case len(m.Classes) > 0:
		return data.PaletteFor(m.Classes)
	}
	return data.DistinctPalette(256)
}

// OutputStems names the outputs of files: the base name without extension, and where two inputs
// share it (a/img.png, b/img.jpg), the path with separators and dots as underscores, so no mask
// overwrites another.
func OutputStems(files []string) []string {
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
