package lmp

func init() {
	Register("ce", Maker{
		Doc: "mean softmax cross-entropy over the valid pixels",
		New: func(Options) (Loss, error) { return ceLoss{}, nil },
	})
}

// ceLoss is the mean cross-entropy over the valid pixels.
type ceLoss struct{}

func (ceLoss) Name() string { return "ce" }

func (ceLoss) Reduce(dst []float32, b Batch) (float64, error) {
	if err := b.check(dst, false); err != nil {
		return 0, err
	}
	nv := 0
	var s float64
	for i, x := range b.CE {
		if b.valid(i) {
			nv++
			s += float64(x)
		}
	}
	c := float32(0)
	if nv > 0 {
		c = float32(1 / float64(nv))
	}
	for i := range dst {
		dst[i] = 0
		if b.valid(i) {
			dst[i] = c
		}
	}
	if nv == 0 {
		return 0, nil
	}
	return s / float64(nv), nil
}
