package lmp

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
)

// ErrInput is wrapped by every error that Weights and the losses return for invalid data or
// parameters.
var ErrInput = errors.New("invalid input")

// tuning chooses among the solvers of Weights. Weights uses defaultTuning; tests pass other
// values to weights to exercise each path on small inputs, without changing package state.
type tuning struct {
	// fastMin is the smallest n for which the linear-time solvers run for 1 < p < +Inf;
	// smaller inputs use the sort-based solver.
	fastMin int
	// speculate enables weightsWindow, the guess-based fast path; without it weightsFast
	// runs on its own.
	speculate bool
	// sampleSize is the largest number of losses guessBucket samples.
	sampleSize int
}

// defaultTuning returns the tuning of Weights.
func defaultTuning() tuning {
	return tuning{fastMin: 2048, speculate: true, sampleSize: 2048}
}

// maxFastR is the largest exponent r = 1/(p-1) (p >= 1+1/128) handled by the bucketed solver.
// Closer to p = 1 the per-bucket powers could overflow, and Weights uses the sort-based
// solver in the log domain instead.
const maxFastR = 128

// Weights writes the optimal LMP weights for losses into w and returns the pooled loss
// sum_i w_i*l_i.
//
// The weights solve
//
//	max_w sum_i w_i*l_i  subject to  ||w||_p <= gamma = n^(1/p-1),  0 <= w_i <= tau = gamma*m^(-1/p),
//
// with n = len(losses) and m = ratio*n clamped to [1, n] (not rounded). p = math.Inf(1) and
// m = n give the mean, p = 1 the mean of the m largest losses. The pooled loss is computed
// in float64 from the optimality conditions; the float32 weights in w agree with it to
// float32 rounding. Zero losses get weight zero unless they tie with the m-th largest loss
// (p = 1) or the problem is a plain mean.
//
// Weights returns an error wrapping ErrInput when len(w) != len(losses), n = 0, p < 1 or NaN,
// ratio is outside [0, 1] or NaN, or a loss is negative, NaN or infinite (the error names the
// first such index). On error the contents of w are unspecified.
//
// For 1 < p < +Inf and p = 1 the expected running time is linear in n; only for n < 2048,
// 1 < p < 1+1/128 or when a loss is a float32 subnormal does Weights fall back to an
// O(n log n) sort. Weights below about 2^-90*tau may lose precision (see the package
// documentation).
func Weights(w, losses []float32, p, ratio float64) (float64, error) {
	return weights(w, losses, p, ratio, defaultTuning())
}

// weights is Weights with the choice of solver given by tu.
func weights(w, losses []float32, p, ratio float64, tu tuning) (float64, error) {
	n := len(losses)
	switch {
	case len(w) != n:
		return 0, fmt.Errorf("lmp: len(w) = %d differs from len(losses) = %d: %w", len(w), n, ErrInput)
	case n == 0:
		return 0, fmt.Errorf("lmp: no losses: %w", ErrInput)
	case math.IsNaN(p) || p < 1:
		return 0, fmt.Errorf("lmp: norm exponent p = %v, want p >= 1: %w", p, ErrInput)
	case math.IsNaN(ratio) || ratio < 0 || ratio > 1:
		return 0, fmt.Errorf("lmp: ratio = %v outside [0, 1]: %w", ratio, ErrInput)
	}
	m := ratio * float64(n)
	if m < 1 {
		m = 1
	}
	if m >= float64(n) || math.IsInf(p, 1) {
		return uniform(w, losses)
	}
	if p == 1 {
		return topM(w, losses, m)
	}
	gamma := math.Pow(float64(n), 1/p-1)
	tau := gamma * math.Pow(m, -1/p)
	r := 1 / (p - 1) // q - 1, with q = p/(p-1) the dual exponent
	q := 1 + r
	if n >= tu.fastMin && r <= maxFastR {
		guess := -1
		if tu.speculate {
			guess = guessBucket(losses, m, q, tu.sampleSize)
		}
		if guess >= 0 {
			L, ok, err := weightsWindow(w, losses, m, tau, r, q, guess)
			if err != nil || ok {
				return L, err
			}
		}
		L, ok, err := weightsFast(w, losses, m, tau, r, q)
		if err != nil || ok {
			return L, err
		}
	} else if err := check(losses, 0); err != nil {
		return 0, err
	}
	return weightsSorted(w, losses, m, tau, r, q), nil
}

// badLoss returns the error for the invalid loss x at index i.
func badLoss(i int, x float32) error {
	return fmt.Errorf("lmp: loss %d is %v, want a finite value >= 0: %w", i, x, ErrInput)
}

// check returns an error for the first negative, NaN or infinite loss, naming its index
// plus offset.
func check(losses []float32, offset int) error {
	for i, x := range losses {
		if u := math.Float32bits(x); u >= 0x7f800000 && u != 0x80000000 {
			return badLoss(offset+i, x)
		}
	}
	return nil
}

// uniform writes w_i = 1/n and returns the mean.
func uniform(w, losses []float32) (float64, error) {
	n := len(losses)
	wi := float32(1 / float64(n))
	var s float64
	for i, x := range losses {
		if u := math.Float32bits(x); u >= 0x7f800000 && u != 0x80000000 {
			return 0, badLoss(i, x)
		}
		s += float64(x)
		w[i] = wi
	}
	return s / float64(n), nil
}

// topM solves p = 1: weight 1/m on the floor(m) largest losses and the remainder on the next,
// spread evenly over the losses tied with the ceil(m)-th largest.
func topM(w, losses []float32, m float64) (float64, error) {
	if err := check(losses, 0); err != nil {
		return 0, err
	}
	n := len(losses)
	k := int(math.Ceil(m))
	if k > n {
		k = n
	}
	a := make([]float32, n)
	copy(a, losses)
	v := nthSmallest(a, n-k)
	var cgt, ceq int
	var sgt float64
	for _, x := range losses {
		if x > v {
			cgt++
			sgt += float64(x)
		} else if x == v {
			ceq++
		}
	}
	rest := m - float64(cgt)
	wgt := float32(1 / m)
	weq := float32(rest / (m * float64(ceq)))
	for i, x := range losses {
		switch {
		case x > v:
			w[i] = wgt
		case x == v:
			w[i] = weq
		default:
			w[i] = 0
		}
	}
	return (sgt + rest*float64(v)) / m, nil
}

// rng is a small xorshift generator for pivot choice.
type rng uint64

func (r *rng) next(n int) int {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return int(x % uint64(n))
}

// nthSmallest reorders a and returns its k-th smallest element (0-based), by quickselect with
// random pivots and three-way partitioning.
func nthSmallest(a []float32, k int) float32 {
	g := rng(0x9e3779b97f4a7c15 ^ uint64(len(a)))
	lo, hi := 0, len(a)
	for {
		if hi-lo == 1 {
			return a[lo]
		}
		e := a[lo+g.next(hi-lo)]
		i, lt, gt := lo, lo, hi
		for i < gt {
			switch v := a[i]; {
			case v < e:
				a[i], a[lt] = a[lt], v
				lt++
				i++
			case v > e:
				gt--
				a[i], a[gt] = a[gt], v
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt
		case k >= gt:
			lo = gt
		default:
			return e
		}
	}
}

// saturate writes tau on the positive losses and zero elsewhere, and returns tau times their
// sum: the optimum when at most m losses are positive.
func saturate(w, losses []float32, tau float64) float64 {
	t := float32(tau)
	var s float64
	for i, x := range losses {
		if x > 0 {
			w[i] = t
			s += float64(x)
		} else {
			w[i] = 0
		}
	}
	return tau * s
}

// weightsSorted solves 1 < p < +Inf by sorting the positive losses, in the log domain so that
// any exponent q and any range of losses is safe. It is the path for small n, for p close to 1
// and for subnormal losses. The losses must have been checked.
func weightsSorted(w, losses []float32, m, tau, r, q float64) float64 {
	pos := make([]float64, 0, len(losses))
	for _, x := range losses {
		if x > 0 {
			pos = append(pos, float64(x))
		}
	}
	if float64(len(pos)) <= m {
		return saturate(w, losses, tau)
	}
	s, lnAlpha, lsat := thresholdSorted(pos, m, q)
	alpha := math.Exp(lnAlpha)
	t := float32(tau)
	for i, x := range losses {
		switch {
		case x <= 0:
			w[i] = 0
		case float64(x) >= alpha:
			w[i] = t
		default:
			w[i] = min(t, float32(tau*math.Exp(r*(math.Log(float64(x))-lnAlpha))))
		}
	}
	return tau * (lsat + alpha*(m-float64(s)))
}

// thresholdSorted returns, for the positive losses pos (more than m of them; pos is
// reordered), the number s of saturated losses, ln(alpha) and the sum of the saturated losses.
func thresholdSorted(pos []float64, m, q float64) (s int, lnAlpha, lsat float64) {
	k := len(pos)
	slices.Sort(pos)
	slices.Reverse(pos)
	// lg[j] = q*ln(pos[j]); suf[j] = sum_{i>=j} exp(lg[i]-lg[j]) >= 1.
	lg := make([]float64, k)
	for j, x := range pos {
		lg[j] = q * math.Log(x)
	}
	suf := make([]float64, k+1)
	suf[k-1] = 1
	for j := k - 2; j >= 0; j-- {
		suf[j] = 1 + suf[j+1]*math.Exp(lg[j+1]-lg[j])
	}
	// g(pos[j]) = #{l >= pos[j]} + sum_{l < pos[j]} (l/pos[j])^q decreases with pos[j];
	// the saturated losses are the tie groups from the top with g < m.
	for s < k {
		j1 := s
		for j1+1 < k && pos[j1+1] == pos[s] {
			j1++
		}
		g := float64(j1 + 1)
		if j1+1 < k {
			g += suf[j1+1] * math.Exp(lg[j1+1]-lg[s])
		}
		if g >= m {
			break
		}
		s = j1 + 1
	}
	for _, x := range pos[:s] {
		lsat += x
	}
	// alpha^q = sum_{i>=s} pos[i]^q / (m-s).
	lnAlpha = (lg[s] + math.Log(suf[s]) - math.Log(m-float64(s))) / q
	return s, lnAlpha, lsat
}

// guessBucket estimates the bucket of the threshold alpha from an evenly strided sample of
// about min(sampleSize, max(256, n/32)) losses, or returns -1 (too few losses, or too few
// positive ones in the sample). weightsWindow builds on the guess.
func guessBucket(losses []float32, m, q float64, sampleSize int) int {
	n := len(losses)
	size := min(sampleSize, max(256, n/32))
	stride := n / size
	if stride < 8 {
		return -1
	}
	pos := make([]float64, 0, size+1)
	visited := 0
	for i := stride / 2; i < n; i += stride {
		visited++
		if x := losses[i]; x >= 0x1p-126 && x <= math.MaxFloat32 {
			pos = append(pos, float64(x))
		}
	}
	ms := m * float64(visited) / float64(n)
	if float64(len(pos)) <= ms || ms < 1 {
		return -1
	}
	_, lnAlpha, _ := thresholdSorted(pos, ms, q)
	a := float32(math.Exp(lnAlpha))
	if !(a >= 0x1p-126 && a <= math.MaxFloat32) {
		return -1
	}
	return int(math.Float32bits(a) >> 20)
}

// The bucketed solver groups positive normal float32 losses by their top 12 bits (sign,
// exponent and three mantissa bits): bucket b holds [v_b, v_{b+1}) with v_b = 2^(E-127)*(1+j/8).
const nBuckets = 2048

// powTable evaluates (1+f)^r for the mantissa 1+f of a positive normal float32 without
// math.Pow. With the mantissa bits split into the top 11 bits hi and the low 12 bits lo,
// 1+f = (1+hi/2^11)*(1+d) with d = lo*inv[hi] < 2^-11, so (1+f)^r = (1+hi/2^11)^r*(1+d)^r,
// and (1+d)^r is a binomial series of degree deg (the first dropped term is below 5e-15).
// For deg <= 3 the series is folded into the entry: (1+f)^r = a0 + lo*(a1 + lo*(a2 + lo*a3)).
type powTable struct {
	r, q float64
	deg  int
	c    [16]float64      // C(r, k)
	a    [2048][4]float64 // (1+hi/2^11)^r * C(r,k) * inv^k
	inv  [2048]float64    // 1/(2^23*(1+hi/2^11))
	cj   [8]float64       // 2^-23/(1+j/8)^q: (l/v_b)^q = (1+f)^r * mantissa bits * cj[j]
}

var cachedTable atomic.Pointer[powTable]

// tableFor returns the power table for exponent r, building it (2048 powers) unless the
// last one built has the same r.
func tableFor(r float64) *powTable {
	if tb := cachedTable.Load(); tb != nil && tb.r == r {
		return tb
	}
	tb := &powTable{r: r, q: 1 + r}
	const dmax = 1.0 / 2048
	tb.c[0] = 1
	term := 1.0
	for k := 1; k < len(tb.c); k++ {
		tb.c[k] = tb.c[k-1] * (r - float64(k-1)) / float64(k)
		term *= dmax
		tb.deg = k
		next := tb.c[k] * (r - float64(k)) / float64(k+1)
		if math.Abs(next)*term*dmax < 5e-15 {
			break
		}
	}
	for hi := range tb.a {
		h := 1 + float64(hi)/2048
		x := math.Pow(h, r)
		inv := 1 / (8388608 * h)
		tb.inv[hi] = inv
		f := x
		for k := 0; k < 4 && k <= tb.deg; k++ {
			tb.a[hi][k] = f * tb.c[k]
			f *= inv
		}
	}
	for j := range tb.cj {
		tb.cj[j] = math.Pow(1+float64(j)/8, -tb.q) / 8388608
	}
	cachedTable.Store(tb)
	return tb
}

// pow returns (1+f)^r for the bits u of a positive normal float32 with mantissa 1+f.
func (tb *powTable) pow(u uint32) float64 {
	hi := (u >> 12) & 0x7ff
	d := float64(u & 0xfff)
	if tb.deg <= 3 {
		a := &tb.a[hi]
		return a[0] + d*(a[1]+d*(a[2]+d*a[3]))
	}
	d *= tb.inv[hi]
	s := tb.c[tb.deg]
	for k := tb.deg - 1; k >= 0; k-- {
		s = s*d + tb.c[k]
	}
	return tb.a[hi][0] * s
}

// relPow returns (l/v_b)^q for the bits u of a positive normal float32 l in bucket b, given
// mp = (1+f)^r = tb.pow(u).
func (tb *powTable) relPow(u uint32, mp float64) float64 {
	return mp * float64(u&0x7fffff|0x800000) * tb.cj[(u>>20)&7]
}

// expScale fills dst[E] = scale * (2^(E-127)/c)^r for the biased exponents E of normal
// float32 values, given lc = log2(c): then (l/c)^r * scale = (1+f)^r * dst[E].
func expScale(dst *[256]float64, lc, r, scale float64) {
	for e := 1; e < 255; e++ {
		dst[e] = scale * math.Exp2(r*(float64(e-127)-lc))
	}
}

// windowShare estimates from an evenly strided sample how many losses lie in the buckets
// [glo, ghi], with some margin.
func windowShare(losses []float32, glo, ghi uint32) int {
	stride := max(1, len(losses)/1024)
	in := 0
	for i := stride / 2; i < len(losses); i += stride {
		if b := math.Float32bits(losses[i]) >> 20; b-glo <= ghi-glo {
			in++
		}
	}
	return (in+8)*stride + (in+8)*stride/4
}

// bucketLog2 returns log2 of the lower edge of bucket b >= 8.
func bucketLog2(b int) float64 {
	return float64(b>>3-127) + math.Log2(1+float64(b&7)/8)
}

// weightsFast solves 1 < p < +Inf (r <= maxFastR) in expected linear time for any input; it is the
// fallback of weightsWindow. It reports ok = false, with the losses checked, when a subnormal
// loss needs the sort-based path.
//
// Pass 1 validates the losses, histograms them into buckets with per-bucket count, loss sum
// and sum of (l/v_b)^q relative to the bucket's lower edge v_b, and stores l^r in w. The
// threshold satisfies g(alpha) = sum_i min(1, (l_i/alpha)^q) = m with g decreasing;
// evaluating g at the bucket edges locates the bucket b* that holds alpha, with everything
// above it saturated and everything below unsaturated. Pass 2 gathers b*, an exact
// randomized selection inside it finds alpha, and the last pass scales w by tau*alpha^-r and
// clips it at tau, which saturates exactly the losses >= alpha; if alpha is too far from 1
// for l^r to have been stored safely, it recomputes the powers instead.
func weightsFast(w, losses []float32, m, tau, r, q float64) (L float64, ok bool, err error) {
	tb := tableFor(r)
	type bucket struct {
		n       int
		pw, sum float64
	}
	var hist [nBuckets]bucket
	subnormal := false
	// w holds (l/c)^r with c = 1 until the last pass.
	var scale [256]float64
	expScale(&scale, 0, r, 1)
	// Pass 1 in blocks: first the powers (a tight loop, so that the table loads overlap),
	// then the histogram. mp = 0 marks zeros and subnormals.
	var mps [256]float64
	fold := tb.deg <= 3
	for base := 0; base < len(losses); base += len(mps) {
		blk := losses[base:min(base+len(mps), len(losses))]
		mp := mps[:len(blk)]
		for j := range mp {
			x := blk[j]
			u := math.Float32bits(x)
			if u-0x00800000 >= 0x7f000000 { // not a positive normal float
				switch {
				case u == 0 || u == 0x80000000:
				case u < 0x00800000:
					subnormal = true
				default:
					return 0, false, badLoss(base+j, x)
				}
				mp[j] = 0
				continue
			}
			if fold {
				a := &tb.a[(u>>12)&0x7ff]
				d := float64(u & 0xfff)
				mp[j] = a[0] + d*(a[1]+d*(a[2]+d*a[3]))
			} else {
				mp[j] = tb.pow(u)
			}
		}
		wb := w[base : base+len(blk)]
		for j := range mp {
			x, v := blk[j], mp[j]
			if v == 0 {
				wb[j] = 0
				continue
			}
			u := math.Float32bits(x)
			wb[j] = float32(v * scale[u>>23])
			b := u >> 20 & (nBuckets - 1)
			pw := v * float64(u&0x7fffff|0x800000) * tb.cj[b&7]
			h := &hist[b]
			h.n++
			h.pw += pw
			h.sum += float64(x)
		}
	}
	if subnormal {
		return 0, false, nil
	}
	k := 0
	for b := range hist {
		k += hist[b].n
	}
	if float64(k) <= m {
		return saturate(w, losses, tau), true, nil
	}

	// Locate b*: the largest non-empty bucket whose lower edge has g(v_b) >= m. The smallest
	// non-empty bucket qualifies, since there g = k > m.
	bstar, below := -1, 0
	var R, lgPrev float64
	prev := -1
	for b := 8; b < nBuckets; b++ {
		if hist[b].n == 0 {
			continue
		}
		lg := bucketLog2(b)
		if prev >= 0 {
			R = (R + hist[prev].pw) * math.Exp2(q*(lgPrev-lg))
		}
		if float64(k-below)+R < m {
			break
		}
		bstar = b
		below += hist[b].n
		prev, lgPrev = b, lg
	}
	s0 := k - below
	lgStar := bucketLog2(bstar)
	// U0 = sum over the buckets below b* of (l/v_b*)^q, summed afresh for accuracy; the
	// losses above b* are saturated.
	var u0, lsat float64
	for b := 8; b < nBuckets; b++ {
		switch {
		case b < bstar && hist[b].n != 0:
			u0 += hist[b].pw * math.Exp2(q*(bucketLog2(b)-lgStar))
		case b > bstar:
			lsat += hist[b].sum
		}
	}

	// Pass 2: gather b*.
	vals := make([]float32, 0, hist[bstar].n)
	pws := make([]float64, 0, hist[bstar].n)
	for _, x := range losses {
		u := math.Float32bits(x)
		if u < 0x00800000 || u >= 0x80000000 {
			continue
		}
		if int(u>>20) == bstar {
			vals = append(vals, x)
			pws = append(pws, tb.relPow(u, tb.pow(u)))
		}
	}
	s, u, ls := solveSet(vals, pws, s0, u0, m)
	lsat += ls
	alphaRel := math.Pow(u/(m-float64(s)), 1/q) // alpha / v_b*
	la := lgStar + math.Log2(alphaRel)
	alpha := math.Exp2(la)

	// Pass 3: w_i = min(tau, tau*(l/alpha)^r) = min(tau, K*l^r) with K = tau*alpha^-r.
	t := float32(tau)
	if d := -r * la; d >= -8 && d <= 8 {
		K := float32(tau * math.Exp2(d))
		for i, v := range w {
			v *= K
			if v > t {
				v = t
			}
			w[i] = v
		}
	} else {
		expScale(&scale, la, r, tau)
		for i, x := range losses {
			u := math.Float32bits(x)
			if u < 0x00800000 || u >= 0x80000000 {
				w[i] = 0
				continue
			}
			v := float32(tb.pow(u) * scale[u>>23])
			if v > t {
				v = t
			}
			w[i] = v
		}
	}
	return tau * (lsat + alpha*(m-float64(s))), true, nil
}

// weightsWindow is the common case of weightsFast: it assumes that alpha lies in the window
// of three buckets around the sampled guess, so that the losses below the window are
// unsaturated and those above it saturated. Pass 1 then needs no histogram: it sums
// (l/c)^q over the losses below, counts and sums the losses above (without a power), stores
// (l/c)^r in w and gathers the window. The exact selection in the window gives alpha; if it
// lies in the window, the assumption holds and, alpha being unique, it is the threshold, and
// one streaming pass scales w. Otherwise weightsWindow reports ok = false (as it does for
// subnormal losses) and Weights falls back to weightsFast. Invalid losses are reported here.
func weightsWindow(w, losses []float32, m, tau, r, q float64, guess int) (L float64, ok bool, err error) {
	tb := tableFor(r)
	glo, ghi := uint32(guess-1), uint32(guess+1)
	lc := bucketLog2(guess) + 1.0/16
	invc := math.Exp2(-lc)
	var scale [256]float64
	expScale(&scale, lc, r, 1)
	share := min(len(losses), windowShare(losses, glo, ghi))
	vals := make([]float32, 0, share)
	pws := make([]float64, 0, share)
	var u0, lsat float64
	nAbove, nSpecial := 0, 0
	subnormal := false
	var mps, wvs [256]float64
	var win [256]uint8
	fused := tb.deg <= 3
	for base := 0; base < len(losses); base += len(mps) {
		blk := losses[base:min(base+len(mps), len(losses))]
		wb := w[base : base+len(blk)]
		var na, nw int
		var la, lu float64
		if fused {
			var ns int
			ns, na, la, lu, nw = tb.windowFused(wb, blk, &scale, glo, ghi, &win, &wvs)
			if ns > 0 {
				sub, bad := classify(blk)
				if bad {
					return 0, false, check(losses[base:], base)
				}
				nSpecial += ns
				subnormal = subnormal || sub
			}
		} else {
			mp := mps[:len(blk)]
			ns, sub, bad := tb.powers(mp, blk)
			if bad {
				return 0, false, check(losses[base:], base)
			}
			nSpecial += ns
			subnormal = subnormal || sub
			na, la, lu, nw = windowBlock(wb, blk, mp, &scale, glo, ghi, &win, &wvs)
		}
		nAbove += na
		lsat += la
		u0 += lu
		for i := 0; i < nw; i++ {
			x := blk[win[i]]
			vals = append(vals, x)
			pws = append(pws, wvs[i]*float64(x)*invc)
		}
	}
	if subnormal {
		return 0, false, nil
	}
	if k := len(losses) - nSpecial; float64(k) <= m {
		return saturate(w, losses, tau), true, nil
	}
	s, u, ls := solveSet(vals, pws, nAbove, u0*invc, m)
	if float64(s) >= m || !(u > 0) {
		return 0, false, nil
	}
	alphaRel := math.Pow(u/(m-float64(s)), 1/q) // alpha / c
	la := lc + math.Log2(alphaRel)
	if la < bucketLog2(guess-1) || la > bucketLog2(guess+2) {
		return 0, false, nil
	}
	alpha := math.Exp2(la)
	K := float32(tau * math.Exp2(r*(lc-la)))
	t := float32(tau)
	for i, v := range w {
		v *= K
		if v > t {
			v = t
		}
		w[i] = v
	}
	return tau * (lsat + ls + alpha*(m-float64(s))), true, nil
}

// powers writes mp[j] = (1+f)^r for the mantissa of each positive normal blk[j], and 0 for
// the others. It counts those (special), and reports subnormal ones and invalid ones (bad).
// It serves tables with deg > 3; windowFused handles the others.
func (tb *powTable) powers(mp []float64, blk []float32) (special int, subnormal, bad bool) {
	blk = blk[:len(mp)]
	for j, x := range blk {
		u := math.Float32bits(x)
		if u-0x00800000 >= 0x7f000000 { // not a positive normal float
			special++
			subnormal = subnormal || (u != 0 && u < 0x00800000)
			bad = bad || (u >= 0x7f800000 && u != 0x80000000)
			mp[j] = 0
			continue
		}
		mp[j] = tb.pow(u)
	}
	return special, subnormal, bad
}

// windowBlock is the inner loop of weightsWindow for one block of at most 256 losses with
// powers mp: it writes wb, and returns the count and sum of the losses above the window
// [glo, ghi] of buckets, the sum of (l/c)^r*l below it, and the number nw of losses in it,
// noted in win (block positions) and wvs ((l/c)^r).
func windowBlock(wb, blk []float32, mp []float64, scale *[256]float64, glo, ghi uint32, win *[256]uint8, wvs *[256]float64) (nAbove int, lsat, u0 float64, nw int) {
	inf := float32(math.Inf(1))
	blk = blk[:len(mp)]
	wb = wb[:len(mp)]
	for j, v := range mp {
		x := blk[j]
		if v == 0 {
			wb[j] = 0
			continue
		}
		b := math.Float32bits(x) >> 20
		if b > ghi {
			wb[j] = inf
			nAbove++
			lsat += float64(x)
			continue
		}
		wv := v * scale[(b>>3)&255] // (l/c)^r
		nw, u0 = place(wb, j, x, wv, b >= glo, win, wvs, nw, u0)
	}
	return nAbove, lsat, u0, nw
}

// place is the common end of windowBlock's and windowFused's loops for a loss x at block
// position j below the saturated buckets, with wv = (l/c)^r: it writes wv into wb[j] and then,
// if the loss is in the window (inWin), notes j and wv at position nw of win and wvs and counts
// it, else adds wv*x to the power sum u0 below the window. It returns the new nw and u0. It is
// small enough to be inlined into both loops.
func place(wb []float32, j int, x float32, wv float64, inWin bool, win *[256]uint8, wvs *[256]float64, nw int, u0 float64) (int, float64) {
	wb[j] = float32(wv)
	if inWin {
		win[nw&255] = uint8(j)
		wvs[nw&255] = wv
		return nw + 1, u0
	}
	return nw, u0 + wv*float64(x)
}

// windowFused is powers and windowBlock in one loop, for tables with deg <= 3. It counts the
// losses that are not positive normal floats (special) and leaves their classification to
// classify.
func (tb *powTable) windowFused(wb, blk []float32, scale *[256]float64, glo, ghi uint32, win *[256]uint8, wvs *[256]float64) (special, nAbove int, lsat, u0 float64, nw int) {
	inf := float32(math.Inf(1))
	wb = wb[:len(blk)]
	for j, x := range blk {
		u := math.Float32bits(x)
		if u-0x00800000 >= 0x7f000000 { // not a positive normal float
			special++
			wb[j] = 0
			continue
		}
		b := u >> 20
		if b > ghi {
			wb[j] = inf
			nAbove++
			lsat += float64(x)
			continue
		}
		a := &tb.a[(u>>12)&0x7ff]
		d := float64(u & 0xfff)
		wv := (a[0] + d*(a[1]+d*(a[2]+d*a[3]))) * scale[(b>>3)&255] // (l/c)^r
		nw, u0 = place(wb, j, x, wv, b >= glo, win, wvs, nw, u0)
	}
	return special, nAbove, lsat, u0, nw
}

// classify reports whether blk holds subnormal losses and invalid ones.
func classify(blk []float32) (subnormal, bad bool) {
	for _, x := range blk {
		u := math.Float32bits(x)
		subnormal = subnormal || (u != 0 && u < 0x00800000)
		bad = bad || (u >= 0x7f800000 && u != 0x80000000)
	}
	return subnormal, bad
}

// solveSet finds the threshold inside a set of losses vals, with pws[i] = (vals[i]/ref)^q, given
// s0 saturated losses above the set and the power sum u0 (in units of ref^q) of the
// unsaturated losses below it. It returns the total saturated count s, the total unsaturated
// power sum u, and the sum of the saturated losses inside the set; then
// (alpha/ref)^q = u/(m-s). It is a quickselect on g: a pivot e with g(e) >= m puts alpha >= e,
// so everything <= e is unsaturated; otherwise everything >= e is saturated. The slices are
// reordered.
func solveSet(vals []float32, pws []float64, s0 int, u0, m float64) (s int, u, lsat float64) {
	g := rng(0x2545f4914f6cdd1d ^ uint64(len(vals)))
	lo, hi := 0, len(vals)
	sAbove := 0
	uBelow := 0.0
	for lo < hi {
		piv := lo + g.next(hi-lo)
		e, pe := vals[piv], pws[piv]
		i, lt, gt := lo, lo, hi
		for i < gt {
			switch v := vals[i]; {
			case v < e:
				vals[i], vals[lt] = vals[lt], v
				pws[i], pws[lt] = pws[lt], pws[i]
				lt++
				i++
			case v > e:
				gt--
				vals[i], vals[gt] = vals[gt], v
				pws[i], pws[gt] = pws[gt], pws[i]
			default:
				i++
			}
		}
		var sumLT, sumEQ float64
		for _, x := range pws[lo:lt] {
			sumLT += x
		}
		for _, x := range pws[lt:gt] {
			sumEQ += x
		}
		cntGE := hi - lt
		G := float64(s0+sAbove+cntGE) + (u0+uBelow+sumLT)/pe
		if G >= m {
			uBelow += sumLT + sumEQ
			lo = gt
		} else {
			sAbove += cntGE
			for _, x := range vals[lt:hi] {
				lsat += float64(x)
			}
			hi = lt
		}
	}
	return s0 + sAbove, u0 + uBelow, lsat
}
