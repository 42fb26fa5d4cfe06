package lmp

import (
	"math"
	"testing"
)

func init() { addSuite("focal", Options{Gamma: 2}, Options{Gamma: 0.5}, Options{}) }

func TestFocalHand(t *testing.T) {
	checkHand(t, "focal", []handCase{
		{Options{Gamma: 0}, 10.5 / 5, []float64{0.2, 0.2, 0.2, 0.2, 0, 0.2}},
	})
	// Gamma 2 at p = 1/2: loss (1/2)^2 ln 2, coefficient 1/4 + 2*(1/2)*(1/2)*ln 2.
	l, err := New("focal", Options{Gamma: 2})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 1)
	L, err := l.Reduce(dst, Batch{N: 1, HW: 1, CE: []float32{float32(math.Ln2)}, Prob: []float32{0.5}, Labels: []int32{0}, Ignore: 255})
	if err != nil || math.Abs(L-0.25*math.Ln2) > 1e-7 || math.Abs(float64(dst[0])-(0.25+0.5*math.Ln2)) > 1e-7 {
		t.Errorf("focal hand: %v %v %v", L, dst[0], err)
	}
}

func TestFocalErrors(t *testing.T) {
	checkBad(t, "focal", []badCase{
		{Options{Gamma: -1}, "gamma -1: want a finite number >= 0"},
		{Options{Gamma: math.NaN()}, "gamma NaN"},
		{Options{Gamma: math.Inf(1)}, "gamma +Inf"},
	})
}
