package train

// DefaultCropSide is the largest side of the square crop a recipe gets when it names none.
const DefaultCropSide = 512

// DefaultCrop returns the training crop for a recipe that names none, for a backbone whose input
// is fixed to staticH x staticW (0 where the model leaves a dimension free) and a first training
// image of h x w: the fixed size where the model has one, else a square of side
// min(DefaultCropSide, h, w) rounded down to a multiple of 32 (the side itself below 32). Images
// smaller than the crop are padded with the ignore label.
func DefaultCrop(staticH, staticW, h, w int) [2]int {
	side := min(DefaultCropSide, h, w)
	if side >= 32 {
		side -= side % 32
	}
	side = max(side, 1)
	crop := [2]int{side, side}
	if staticH > 0 {
		crop[0] = staticH
	}
	if staticW > 0 {
		crop[1] = staticW
	}
	return crop
}

// needsDefaultCrop reports whether a recipe without a crop must get one: random scaling gives
// images of different sizes, which cannot share a batch of more than one, and a model with a
// fixed input size takes only that size. With the feature cache nothing is cropped (one feature
// map per image).
func needsDefaultCrop(rc *Config, staticH, staticW, h, w int) bool {
	if rc.Crop != [2]int{} || rc.CacheFeatures {
		return false
	}
	scaled := rc.Scale != [2]float64{1, 1}
	fixed := staticH > 0 || staticW > 0
	mismatch := staticH > 0 && staticH != h || staticW > 0 && staticW != w
	return scaled && (rc.Batch > 1 || fixed) || mismatch
}
