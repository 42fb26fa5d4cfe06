package export

import (
	"math"
	"testing"
)

// TestCompareScores: large logits that agree to float32 precision pass a relative tolerance of
// 1e-4 although their absolute difference is far above it (a ResNet-101 head failed the old
// absolute check at 4.0 with a relative error of about 1e-6); a real difference and a NaN fail.
func TestCompareScores(t *testing.T) {
	const c, hw = 3, 4
	want := make([]float32, c*hw)
	for i := range want {
		want[i] = float32(i%c) * 4e5
	}
	got := append([]float32(nil), want...)
	got[5] += 2 // 2 in 8e5: float32 rounding at this scale
	abs, rel, agree := compareScores(got, want, c, hw)
	if !(abs > 1e-4) || !(rel <= 1e-4) || agree != 1 {
		t.Fatalf("large logits: abs %g rel %g agree %g; want abs > 1e-4 (the old check failed), rel <= 1e-4", abs, rel, agree)
	}
	got[5] = want[5] * 0.5
	if _, rel, _ := compareScores(got, want, c, hw); rel <= 1e-4 {
		t.Fatalf("a real difference passes: rel %g", rel)
	}
	got[5] = float32(math.NaN())
	if abs, _, _ := compareScores(got, want, c, hw); !math.IsInf(abs, 1) {
		t.Fatalf("NaN gives abs %g, want +Inf", abs)
	}
	small := []float32{0.1, 0.2, 0.3}
	if _, rel, _ := compareScores([]float32{0.1, 0.2, 0.30002}, small, 3, 1); !(rel > 1e-5 && rel < 3e-5) {
		t.Fatalf("small logits are judged absolutely (scale 1): rel %g", rel)
	}
}
