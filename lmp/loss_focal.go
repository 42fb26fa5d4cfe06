package lmp

import (
	"fmt"
	"math"
)

func init() {
	Register("focal", Maker{
		Doc: "focal loss -(1-p)^Gamma log p averaged over the valid pixels (Gamma 0 is ce)",
		New: newFocal,
	})
}

// newFocal checks that Gamma is finite and >= 0.
func newFocal(o Options) (Loss, error) {
	if !(o.Gamma >= 0) || math.IsInf(o.Gamma, 1) {
		return nil, fmt.Errorf("gamma %v: want a finite number >= 0", o.Gamma)
	}
	return focalLoss{o.Gamma}, nil
}

// focalLoss is the mean over valid pixels of -(1-p)^gamma log p.
type focalLoss struct{ gamma float64 }

func (focalLoss) Name() string { return "focal" }

func (l focalLoss) Reduce(dst []float32, b Batch) (float64, error) {
	if err := b.check(dst, false); err != nil {
		return 0, err
	}
	nv := 0
	for i := range b.CE {
		if b.valid(i) {
			nv++
		}
	}
	clear(dst)
	if nv == 0 {
		return 0, nil
	}
	g := l.gamma
	var s float64
	for i, x := range b.CE {
		if !b.valid(i) {
			continue
		}
		ce := float64(x)
		p := math.Exp(-ce)
		om := -math.Expm1(-ce) // 1-p, accurate near p = 1
		// loss = (1-p)^g * ce; dloss/dz = [(1-p)^g - g*p*(1-p)^(g-1)*log p] (softmax - onehot),
		// and -log p = ce; the second term vanishes at p = 1 for g > 0.
		f := math.Pow(om, g)
		s += f * ce
		c := f
		if g != 0 && om > 0 {
			c += g * p * math.Pow(om, g-1) * ce
		}
		dst[i] = float32(c / float64(nv))
	}
	return s / float64(nv), nil
}
