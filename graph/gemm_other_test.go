//go:build !unix

package graph

import "time"

// processCPU returns 0 where getrusage does not exist.
func processCPU() time.Duration { return 0 }
