package train

import "math"

// Schedule is the poly learning-rate schedule with linear warm-up used by DeepLab and
// mmsegmentation: lr(t) = (base-min)*(1-t/T)^power + min after warm-up, and during the first
// Warmup iterations the rate rises linearly from WarmupRatio*lr(t) to lr(t).
type Schedule struct {
	Base, Min   float64
	Power       float64 // 0.9 by default
	Total       int
	Warmup      int
	WarmupRatio float64 // 0.1 by default
}

// At returns the learning rate of iteration it (0-based).
func (s Schedule) At(it int) float64 {
	pw := s.Power
	if pw == 0 {
		pw = 0.9
	}
	frac := 0.0
	if s.Total > 0 {
		frac = math.Min(float64(it)/float64(s.Total), 1)
	}
	lr := (s.Base-s.Min)*math.Pow(1-frac, pw) + s.Min
	if it < s.Warmup {
		r := s.WarmupRatio
		if r == 0 {
			r = 0.1
		}
		k := float64(it) / float64(s.Warmup)
		lr *= r + (1-r)*k
	}
	return lr
}
