package metrics

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Shard selects every N-th item starting at item I (0 <= I < N).
// The zero Shard is not valid; Whole is the shard holding everything.
type Shard struct{ I, N int }

// Whole is the single shard 0/1.
var Whole = Shard{0, 1}

// String returns "I/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// Has reports whether item k belongs to the shard.
func (s Shard) Has(k int) bool { return k%s.N == s.I }

// Indices returns the items of 0..n-1 that belong to the shard.
func (s Shard) Indices(n int) []int {
	var idx []int
	for k := s.I; k < n; k += s.N {
		idx = append(idx, k)
	}
	return idx
}

// ParseShard parses "i/N" with 0 <= i < N.
func ParseShard(spec string) (Shard, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "/")
	if !ok {
		return Shard{}, fmt.Errorf("metrics: shard %q is not of the form i/N", spec)
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("metrics: shard %q is not of the form i/N with whole numbers", spec)
	}
	return checkShard(i, n, "shard "+strconv.Quote(spec))
}

func checkShard(i, n int, what string) (Shard, error) {
	if n < 1 {
		return Shard{}, fmt.Errorf("metrics: %s: the number of shards must be at least 1, not %d", what, n)
	}
	if i < 0 || i >= n {
		return Shard{}, fmt.Errorf("metrics: %s: the index must be in 0..%d, not %d", what, n-1, i)
	}
	return Shard{i, n}, nil
}

// ResolveShard decides which shard this process evaluates:
//
//   - spec "i/N" (a --shard flag) wins;
//   - otherwise JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) gives the
//     index, with N = count (for example from a --shard-count flag set to
//     the Job's completions); an error if count is not positive;
//   - otherwise SLURM_ARRAY_TASK_ID gives the index, less
//     SLURM_ARRAY_TASK_MIN when that is set (arrays need not start at 0),
//     and SLURM_ARRAY_TASK_COUNT gives N (count, when positive, must agree);
//   - otherwise the whole dataset (0/1).
func ResolveShard(spec string, count int) (Shard, error) {
	return resolveShard(spec, count, os.Getenv)
}

func resolveShard(spec string, count int, getenv func(string) string) (Shard, error) {
	if spec != "" {
		return ParseShard(spec)
	}
	num := func(name string) (int, bool, error) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, false, fmt.Errorf("metrics: %s=%q is not a whole number", name, v)
		}
		return n, true, nil
	}
	if i, ok, err := num("JOB_COMPLETION_INDEX"); err != nil {
		return Shard{}, err
	} else if ok {
		if count < 1 {
			return Shard{}, fmt.Errorf("metrics: JOB_COMPLETION_INDEX=%d is set but the number of shards is not given", i)
		}
		return checkShard(i, count, fmt.Sprintf("JOB_COMPLETION_INDEX=%d with %d shards", i, count))
	}
	id, ok, err := num("SLURM_ARRAY_TASK_ID")
	if err != nil {
		return Shard{}, err
	}
	if !ok {
		return Whole, nil
	}
	lo, _, err := num("SLURM_ARRAY_TASK_MIN")
	if err != nil {
		return Shard{}, err
	}
	n, ok, err := num("SLURM_ARRAY_TASK_COUNT")
	if err != nil {
		return Shard{}, err
	}
	if !ok {
		n = count
	} else if count > 0 && count != n {
		return Shard{}, fmt.Errorf("metrics: SLURM_ARRAY_TASK_COUNT=%d but %d shards were asked for", n, count)
	}
	if n < 1 {
		return Shard{}, fmt.Errorf("metrics: SLURM_ARRAY_TASK_ID=%d is set but the number of shards is not", id)
	}
	return checkShard(id-lo, n, fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d (min %d) with %d tasks", id, lo, n))
}
