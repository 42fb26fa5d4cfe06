package lmp

import (
	"errors"
	"math"
	"testing"
)

func init() {
	addSuite("lmp",
		Options{P: 1.7, Ratio: 0.25},
		Options{P: 3, Ratio: 0.1, PerBatch: true},
		Options{P: 1, Ratio: 0.33},
		Options{P: 2, Ratio: 0},
		Options{P: math.Inf(1), Ratio: 0.5})
}

func TestLMPHand(t *testing.T) {
	checkHand(t, "lmp", []handCase{
		// Per image p = Inf: the mean of the means 2 and 2.25.
		{Options{P: math.Inf(1), Ratio: 0.5}, (2 + 2.25) / 2, []float64{1 / 6., 1 / 6., 1 / 6., 0.25, 0, 0.25}},
		// Per image p = 1, m = 1: the mean of the maxima 3 and 4.
		{Options{P: 1, Ratio: 0}, 3.5, []float64{0, 0, 0.5, 0.5, 0, 0}},
		{Options{P: 1, Ratio: 0, PerBatch: true}, 4, []float64{0, 0, 0, 1, 0, 0}},
	})
}

func TestLMPErrors(t *testing.T) {
	checkBad(t, "lmp", []badCase{
		{Options{}, "p 0: want a number >= 1 or +Inf"},
		{Options{P: 0.5, Ratio: 0.1}, "p 0.5: want a number >= 1"},
		{Options{P: math.NaN(), Ratio: 0.1}, "p NaN"},
		{Options{P: math.Inf(-1), Ratio: 0.1}, "p -Inf"},
		{Options{P: 2, Ratio: 1.1}, "ratio 1.1: want a number in [0, 1]"},
		{Options{P: 2, Ratio: -0.1}, "ratio -0.1: want a number in [0, 1]"},
		{Options{P: 2, Ratio: math.NaN()}, "ratio NaN"},
	})
	l, err := New("lmp", Options{P: 2, Ratio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reduce(make([]float32, 2), Batch{N: 1, HW: 2, CE: []float32{1, float32(math.NaN())}, Labels: []int32{0, 0}, Ignore: 255}); !errors.Is(err, ErrInput) {
		t.Errorf("NaN loss: %v", err)
	}
}
