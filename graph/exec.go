package graph

// Exec runs the package's free-standing kernels (the fused loss, the
// upsampled argmax and the bilinear resize) with an explicit number of
// goroutines. Threads < 1 means the package default (GOMAXPROCS). The
// zero Exec is what the package-level functions of the same names use.
// Results are bit-identical from run to run for a given thread count.
type Exec struct {
	Threads int
}

func (e Exec) threads() int { return threadsOr(e.Threads) }
