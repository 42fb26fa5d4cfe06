package graph

import "math/rand/v2"

// SetDropoutSeed restarts the random generator of the head's dropout (if any) from seed. The
// trainer calls it before every step with a seed derived from the run's seed and the iteration, so
// that a resumed run draws the same dropout masks as an uninterrupted one.
func (h *Head) SetDropoutSeed(seed uint64) {
	for _, l := range h.layers {
		if d, ok := l.(*Dropout2d); ok {
			d.rng = rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		}
	}
}
