package lmp

import (
	"math"
	"testing"
)

func init() {
	addSuite("ohem",
		Options{Thresh: 0.6, MinKept: 20},
		Options{Thresh: 0.1, MinKept: 5},
		Options{}) // the defaults keep every pixel of the small batches
}

func TestOHEMHand(t *testing.T) {
	// Probabilities e^-CE: 0.37, 0.14, 0.05, 0.018, -, 0.61. Below 0.2 are CE 2, 3, 4; min kept
	// 4 adds CE 1.
	checkHand(t, "ohem", []handCase{
		{Options{Thresh: 0.2, MinKept: 2}, 3, []float64{0, 1. / 3, 1. / 3, 1. / 3, 0, 0}},
		{Options{Thresh: 0.2, MinKept: 4}, 2.5, []float64{0.25, 0.25, 0.25, 0.25, 0, 0}},
		{Options{Thresh: 0.7, MinKept: 1}, 10.5 / 5, []float64{0.2, 0.2, 0.2, 0.2, 0, 0.2}},
		{Options{Thresh: 0.01, MinKept: 1}, 4, []float64{0, 0, 0, 1, 0, 0}},
	})
}

func TestOHEMErrors(t *testing.T) {
	checkBad(t, "ohem", []badCase{
		{Options{Thresh: 1.5}, "threshold 1.5: want a number in (0, 1]"},
		{Options{Thresh: -0.1}, "threshold -0.1: want a number in (0, 1]"},
		{Options{Thresh: math.NaN()}, "threshold NaN"},
		{Options{MinKept: -1}, "min kept -1: want an integer >= 0"},
	})
}
