package lmp

import (
	"math"
	"testing"
)

func init() { addSuite("topk", Options{TopK: 0.3}, Options{TopK: 1}, Options{}) }

func TestTopKHand(t *testing.T) {
	checkHand(t, "topk", []handCase{
		// Top 40% of 5 = 2 pixels: CE 4 and 3.
		{Options{TopK: 0.4}, 3.5, []float64{0, 0, 0.5, 0.5, 0, 0}},
		// Top 30%: m = 1.5: (4 + 0.5*3)/1.5.
		{Options{TopK: 0.3}, 5.5 / 1.5, []float64{0, 0, 1 / 3., 2 / 3., 0, 0}},
		// The default 25%: m = 1.25.
		{Options{}, (4 + 0.25*3) / 1.25, []float64{0, 0, 0.2, 0.8, 0, 0}},
	})
}

func TestTopKErrors(t *testing.T) {
	checkBad(t, "topk", []badCase{
		{Options{TopK: 2}, "fraction 2: want a number in (0, 1]"},
		{Options{TopK: -0.5}, "fraction -0.5: want a number in (0, 1]"},
		{Options{TopK: math.NaN()}, "fraction NaN"},
		{Options{TopK: math.Inf(1)}, "fraction +Inf"},
	})
}
