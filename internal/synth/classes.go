package synth

import (
	"image"
	"image/color"
)

// Class indices of the generated labels.
const (
	Road = iota
	Sidewalk
	Building
	Fence
	Pole
	Sign
	Vegetation
	Terrain
	Sky
	Person
	Car
	Bicycle
	NumClasses
)

// Ignore is the label value reserved for unlabelled pixels. The generator
// labels every pixel, so it never writes it; readers should still honour it.
const Ignore = 255

// Classes holds the class names in label order, as written to classes.txt.
var Classes = [NumClasses]string{
	"road", "sidewalk", "building", "fence", "pole", "traffic_sign",
	"vegetation", "terrain", "sky", "person", "car", "bicycle",
}

// Palette holds a display colour per class (the Cityscapes colours of the
// corresponding classes), for colourising label maps.
var Palette = [NumClasses]color.RGBA{
	{128, 64, 128, 255}, {244, 35, 232, 255}, {70, 70, 70, 255}, {190, 153, 153, 255},
	{153, 153, 153, 255}, {220, 220, 0, 255}, {107, 142, 35, 255}, {152, 251, 152, 255},
	{70, 130, 180, 255}, {220, 20, 60, 255}, {0, 0, 142, 255}, {119, 11, 32, 255},
}

// Colorize returns an RGBA picture of a label map using Palette; Ignore and
// unknown values are black.
func Colorize(label *image.Gray) *image.RGBA {
	b := label.Bounds()
	dst := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			v := label.GrayAt(x, y).Y
			c := color.RGBA{0, 0, 0, 255}
			if int(v) < NumClasses {
				c = Palette[v]
			}
			dst.SetRGBA(x, y, c)
		}
	}
	return dst
}
