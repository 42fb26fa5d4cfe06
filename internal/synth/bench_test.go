package synth

import "testing"

func benchmarkScene(b *testing.B, h, w int) {
	i := 0
	for b.Loop() {
		Scene(1, "train", i%16, h, w)
		i++
	}
}

// Rendering one image, without encoding; Large is the default size.
func BenchmarkSceneSmall(b *testing.B) { benchmarkScene(b, 128, 256) }
func BenchmarkSceneLarge(b *testing.B) { benchmarkScene(b, 256, 512) }

func benchmarkGenerate(b *testing.B, o Options) {
	for b.Loop() {
		if err := Generate(b.TempDir(), o); err != nil {
			b.Fatal(err)
		}
	}
}

// Generating and writing a dataset: Small is 20 images, Large the default 160.
func BenchmarkGenerateSmall(b *testing.B) { benchmarkGenerate(b, Options{Seed: 1, Train: 16, Val: 4}) }
func BenchmarkGenerateLarge(b *testing.B) { benchmarkGenerate(b, Options{Seed: 1}) }
