// Package lmp implements Loss Max-Pooling (LMP) for semantic segmentation and the pixel
// losses it is compared with.
//
// # Loss Max-Pooling
//
// Loss Max-Pooling (S. Rota Bulò, G. Neuhold, P. Kontschieder, "Loss Max-Pooling for
// Semantic Image Segmentation", CVPR 2017, arXiv:1704.02966) replaces the mean of the n
// per-pixel losses l_i >= 0 of an image by the largest weighted sum over a convex set of
// pixel weightings:
//
//	L = max_w sum_i w_i*l_i  subject to  ||w||_p <= gamma = n^(1/p-1),  0 <= w_i <= tau = gamma*m^(-1/p),
//
// with p in [1, +Inf] and m = r*n for a ratio r, clamped to [1, n] and kept real. The uniform
// weighting w_i = 1/n is always feasible, so L is at least the mean; for p = +Inf or m = n
// it is the mean, for p = 1 (gamma = 1, tau = 1/m) it is the mean of the m largest losses,
// with the pixel after the floor(m) largest weighted by the remainder. In training, the
// optimal weights are held constant in the backward pass (Danskin's theorem): the gradient of
// L is sum_i w_i*grad l_i. Weights computes them.
//
// # The threshold alpha
//
// For 1 < p < +Inf let q = p/(p-1) and r = q-1 = 1/(p-1). Writing the weights as
// w_i = tau*v_i turns the constraints into 0 <= v_i <= 1 and sum_i v_i^p <= m, because
// gamma^p/tau^p = m. If at most m losses are positive, v_i = 1 on all of them is feasible and
// optimal (zero losses get weight zero; any feasible weight would do). Otherwise the norm
// constraint is active, and the Karush-Kuhn-Tucker conditions of maximising sum_i v_i*l_i
// with multiplier lambda for sum v^p <= m and the box give l_i = lambda*p*v_i^(p-1) where
// 0 < v_i < 1, and v_i = 1 where l_i is larger still: with alpha chosen so that v_i = 1
// exactly at l_i = alpha,
//
//	v_i = min(1, (l_i/alpha)^(r)).
//
// Since v_i^p = min(1, (l_i/alpha)^(r*p)) and r*p = q, the active norm constraint fixes alpha
// by
//
//	g(alpha) = sum_i min(1, (l_i/alpha)^q) = m.
//
// g is continuous and strictly decreasing from the number k of positive losses (alpha -> 0)
// to 0, so alpha is unique when k > m. If s losses are at least alpha (saturated) and U is
// the sum of l_i^q over the others, alpha^q = U/(m-s), and the pooled loss needs no further
// powers:
//
//	L = tau*(sum_{l_i >= alpha} l_i + alpha*(m-s)).
//
// The dual bound D(alpha) = tau*sum_i (l_i-alpha)_+ + gamma*(sum_i min(l_i, alpha)^q)^(1/q)
// (the box constraint dualised with multipliers tau*(l_i-alpha)_+, the norm constraint by
// Hölder) is at least L for every alpha > 0, and at the threshold above it equals L: with
// sum_i min(l_i,alpha)^q = m*alpha^q and gamma*m^(1/q) = tau*m the two terms add up to the
// formula for L. The tests check both that equality and that no other alpha gives less.
//
// # Expected linear time
//
// Weights never sorts the losses for 1 < p < +Inf (except in the fallbacks below). Powers
// cost no math.Pow per loss: for the mantissa 1+f of a float32, split into its top 11 bits
// and low 12 bits, (1+f)^r is a table entry folded with a binomial series in a number below
// 2^-11 (a cubic for p = 1.7, exact for integer r as at p = 2; the table of 2048 entries is
// cached across calls), and the exponent contributes one factor per float32 exponent.
//
// The common case (weightsWindow) samples up to 2048 losses, solves the sample, and takes the
// bucket of its threshold as a guess, a bucket being 1/8 of an octave (the top 12 bits of
// the float32). One pass over the losses then assumes that alpha lies in the three buckets
// around the guess: it counts and sums the losses above them (saturated: no power needed),
// sums (l/c)^q over the losses below them (c the guess), stores (l/c)^r in w, and gathers
// the losses inside. A randomized three-way quickselect on g over the gathered losses finds
// alpha exactly under the assumption; if alpha indeed falls in the three buckets the
// assumption holds, and since alpha is unique it is the answer. A last streaming pass
// multiplies w by tau*(c/alpha)^r and clips at tau, which saturates exactly the losses at or
// above alpha.
//
// When the guess misses, weightsFast runs: a histogram of all buckets with counts, loss sums
// and (l/v_b)^q summed relative to each bucket's lower edge v_b; g evaluated at the bucket
// edges (lower buckets rescaled to each edge) locates the bucket holding alpha; a second
// pass gathers it for the quickselect; a third writes the weights. Taking every power
// relative to a reference near alpha (c or v_b) is what makes huge outliers and exponents q
// up to 129 safe in float64. Weights far below tau (under 2^-90*tau, whose products with
// the losses are far below the resolution of the pooled loss) may lose precision in float32.
//
// Inputs with fewer than 2048 losses, with subnormal float32 losses, or with p < 1+1/128
// (q > 129) use a sort-based solver in the log domain, exact for any q. p = 1 uses
// quickselect for the ceil(m)-th largest loss, sharing the remainder evenly among losses tied
// with it.
//
// # Edge cases
//
// Straightforward implementations go wrong in ways that Weights avoids and the tests cover:
//
//   - Normalising w_i proportional to l_i^(q-1) to the p-norm ball and then clipping at tau
//     leaves weights above tau or, clipped, a suboptimal and unnormalised weighting; the
//     saturated set has to be found with alpha (above).
//   - When at most m losses are positive, alpha is 0 and formulas dividing by alpha or by
//     m-s produce NaN or drop the largest losses; here every positive loss gets tau.
//   - Zero losses contribute nothing to g; taking their logarithm or letting them end a
//     sweep early gives -Inf or NaN thresholds and weights that miss the largest losses.
//     Ties get equal weights.
//   - Rounding m to an integer changes L; m stays real.
//   - l^q overflows or underflows float64 for huge outliers or q near 129 (p near 1);
//     powers are taken relative to a reference near alpha or in the log domain.
//   - n = 1, m = 1 and m = n are exact: the single loss, the maximum (p = 1), the mean.
//
// # Pixel losses
//
// SoftmaxCE and SoftmaxCEGrad compute the per-pixel softmax cross-entropy over NCHW logits
// and its gradient for given per-pixel coefficients, subtracting the per-pixel maximum
// logit. A Loss, made by New, reduces the per-pixel cross-entropies of a Batch to a scalar
// and writes the coefficients c_i with dLoss/dz_i = c_i*(softmax(z_i) - onehot(label_i)):
// ce (mean), wce (class-weighted mean, weights from ClassWeights), ohem (hard pixels below a
// probability threshold, at least a minimum count), topk (mean of the hardest fraction),
// focal and lmp (Loss Max-Pooling per image or per batch).
//
// The losses live in a registry: each registers its name, a one-line description and a
// constructor with Register from its own file, and New looks the name up. Names lists the
// registered losses and Doc describes one. Constructors validate the Options fields their
// loss uses; New reports an invalid value as "lmp: loss NAME: FIELD VALUE: want RANGE",
// wrapping ErrInput. Adding a loss takes its file and its test; the package tests run every
// registered loss through one suite (finite-difference gradients, ignored pixels, finiteness,
// order of the images) and fail for a loss without a test entry.
package lmp
