// Package data reads segmentation datasets and prepares samples for
// training, evaluation and prediction.
//
// A Dataset lists image/label pairs and decodes one Sample at a time: the
// image as three float32 planes (RGB, values 0..255) and the label as one
// int32 class index per pixel. Open understands the registered layouts
// (Formats lists them; RegisterFormat adds one, and each built-in layout
// lives in its own file): "folder" (DIR/images with DIR/labels of the same
// stems and an optional DIR/classes.txt), "cityscapes" (leftImg8bit and
// gtFine, with labelIds mapped to the 19 trainIds, or labelTrainIds files
// when present), "voc" (VOC2012 with ImageSets/Segmentation lists and
// palette PNGs), "ade20k" (ADEChallengeData2016 with its 150 classes, value
// 0 ignored and k read as class k-1), "mapillary" (Mapillary Vistas, with
// classes and colours from config.json, index or colour label PNGs, and the
// labels that are not evaluated ignored) and "camvid" (the 11-class SegNet
// version, value 11 ignored, index or colour label PNGs). Detection picks
// the one layout that matches and refuses to guess between several.
// Dataset listings follow symbolic links to folders and files, skipping a
// link back to a folder being listed.
//
// Label PNGs may be gray of any bit depth (the stored sample is the label:
// a 1-bit PNG holds 0 and 1) or paletted, the palette index being the
// class; formats with a colour table (mapillary, camvid) also take colour
// PNGs. Every label value is checked when the label is decoded: a value
// that is neither a class nor the ignore label is an error naming the file,
// the pixel and the value; so are images and labels of different sizes,
// images without labels and files that do not decode. DefaultIgnore (255)
// is the project's default ignore label. No input file can make the package
// panic.
//
// Images with an alpha channel give their non-premultiplied colour and lose
// their alpha: a pixel with alpha 0 keeps the colour stored in the file (a
// PNG's RGB, whatever the alpha), so transparent pixels are not blackened
// and never an error; only premultiplied in-memory images (image.RGBA) have
// nothing but black to give there. Images are not composited over a
// background. JPEG images are turned as their EXIF orientation tag says
// (the displayed image, as PIL's exif_transpose gives it); labels, being
// PNG, are used as stored, so they must be drawn on the displayed image. A
// malformed EXIF block is ignored.
//
// Augment implements the usual training augmentation (random scale, random
// crop with padding, horizontal flip) driven by a caller-supplied
// *rand.Rand from math/rand/v2, and Preprocess turns a sample into the
// model's input (mean and standard deviation, RGB or BGR, 0-1 or 0-255);
// Preprocess.MeanPixel is the padding colour that becomes 0 after it.
// ResizeBilinear and ResizeNearest are the resizing kernels, with the
// half-pixel convention of ONNX Resize and PyTorch (align_corners = false).
//
// LabelHistogram counts class pixels for class weighting. CheckSameClasses
// compares the class lists of two datasets. The palette functions and
// writers produce label PNGs, colour masks and overlays for people to look
// at.
//
// Functions that take slices with sizes (ResizeBilinear, Preprocess.Apply,
// ColorMask, ...) panic with a "data:" message when the lengths do not match
// the sizes: that is a programming error, not a data error. RegisterFormat
// panics on a duplicate or incomplete registration, also a programming
// error.
package data
