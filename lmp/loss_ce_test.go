package lmp

import "testing"

func init() { addSuite("ce", Options{}) }

func TestCEHand(t *testing.T) {
	checkHand(t, "ce", []handCase{
		{Options{}, 10.5 / 5, []float64{0.2, 0.2, 0.2, 0.2, 0, 0.2}},
	})
}
