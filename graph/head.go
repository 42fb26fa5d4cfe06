package graph

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// Head kinds.
const (
	KindLinear = "linear"
	KindFCN    = "fcn"
)

// HeadSpec describes a segmentation head. Kind names a registered head
// kind (see HeadKinds): "linear" is one 1x1 convolution with bias from the
// features to the classes, "fcn" a 3x3 convolution without bias, batch
// norm, ReLU, channel dropout and a 1x1 convolution with bias, like
// torchvision's FCNHead. Hidden is the width of the fcn head (256 when 0)
// and Dropout its dropout probability (0.1 when 0; a negative value means
// no dropout and is kept as given, so that a normalised spec normalises to
// itself). Kinds that do not use Hidden and Dropout set them to 0.
type HeadSpec struct {
	Kind       string  `json:"kind"`
	InChannels int     `json:"in_channels"`
	Classes    int     `json:"classes"`
	Hidden     int     `json:"hidden"`
	Dropout    float64 `json:"dropout"`
}

// ErrSpec is wrapped by the errors NewHead returns for invalid specs.
var ErrSpec = errors.New("graph: invalid head spec")

// headKind is one registered kind of head. Each kind lives in its own file
// (head_<name>.go) and registers itself from an init function; the rest of
// the package reaches kinds only through this interface, so a new kind
// touches its own file and its test.
type headKind interface {
	// normalize fills in the kind's defaults and checks its own fields;
	// Kind, InChannels and Classes are checked by the caller.
	normalize(s HeadSpec) (HeadSpec, error)
	// layers returns the layers of a head for the normalised spec s in
	// forward order, with zero weights; seed seeds any dropout. NewHead
	// draws the weights of every Conv2d among them and skips the input
	// gradient of a leading Conv2d.
	layers(s HeadSpec, seed int64) []Layer
	// tensors lists, for the normalised spec s and without allocating the
	// head, the names and sizes of Params() followed by Buffers(): what a
	// checkpoint of the head holds, in order.
	tensors(s HeadSpec) []tensorSize
	// lower returns the ONNX nodes and initializers of the inference graph
	// of layers (as built by layers) from tensor input to tensor output,
	// names prefixed with prefix.
	lower(layers []Layer, input, output, prefix string) ([]*pb.NodeProto, []*pb.TensorProto)
	// checkTrain reports whether a training forward over n x C x h x w
	// features works (for instance, whether batch norm sees more than one
	// value per channel); n, h and w are positive.
	checkTrain(s HeadSpec, n, h, w int) error
}

// tensorSize is the name and value count of one checkpointed tensor.
type tensorSize struct {
	name string
	n    uint64
}

var headKinds = map[string]headKind{}

// registerHead adds a head kind; it panics on a duplicate name.
func registerHead(name string, k headKind) {
	if _, dup := headKinds[name]; dup {
		panic("graph: head kind " + name + " registered twice")
	}
	headKinds[name] = k
}

// HeadKinds returns the names of the registered head kinds, sorted.
func HeadKinds() []string { return slices.Sorted(maps.Keys(headKinds)) }

// normalized fills in the defaults and validates the spec.
func (s HeadSpec) normalized() (HeadSpec, headKind, error) {
	k, ok := headKinds[s.Kind]
	if !ok {
		return s, nil, fmt.Errorf("%w: kind %q (want %s)", ErrSpec, s.Kind, strings.Join(HeadKinds(), " or "))
	}
	s, err := k.normalize(s)
	if err != nil {
		return s, nil, err
	}
	if s.InChannels < 1 || s.InChannels > 1<<16 {
		return s, nil, fmt.Errorf("%w: %d input channels", ErrSpec, s.InChannels)
	}
	if s.Classes < 1 || s.Classes > 1<<16 {
		return s, nil, fmt.Errorf("%w: %d classes", ErrSpec, s.Classes)
	}
	return s, k, nil
}

// describe returns a short human description of a normalised spec.
func (s HeadSpec) describe() string {
	d := fmt.Sprintf("%s head over %d channels to %d classes", s.Kind, s.InChannels, s.Classes)
	if s.Hidden != 0 {
		d += fmt.Sprintf(", %d hidden", s.Hidden)
	}
	if s.Dropout != 0 {
		d += fmt.Sprintf(", dropout %g", s.Dropout)
	}
	return d
}

// CheckTrainShape reports whether a head built from s can take a training
// step on a batch of n feature maps of h x w: it returns an error matching
// ErrShape when it cannot (an fcn head's batch norm needs more than one
// feature value per channel, so a batch of one 1x1 feature map fails),
// and an error wrapping ErrSpec for an invalid spec. Callers check it
// before training; Forward itself panics on such input.
func (s HeadSpec) CheckTrainShape(n, h, w int) error {
	ns, k, err := s.normalized()
	if err != nil {
		return err
	}
	if n < 1 || h < 1 || w < 1 {
		return shapeErrorf("graph: a training batch of %d feature maps of %dx%d is empty", n, h, w)
	}
	return k.checkTrain(ns, n, h, w)
}

// Head is a trainable segmentation head over frozen backbone features.
// Forward maps features N x InChannels x h x w to low-resolution logits
// N x Classes x h x w; the loss (PixelCE) upsamples them to label size.
// A Head keeps the activations of its last Forward for Backward, so it is
// not safe for concurrent use, and a Forward between a training Forward
// and its Backward (say, for validation) must not happen.
type Head struct {
	spec    HeadSpec
	kind    headKind
	layers  []Layer
	threads int
}

// threaded is implemented by the layers with a thread count.
type threaded interface{ setThreads(n int) }

// buffered is implemented by the layers with buffers (batch norm).
type buffered interface{ Buffers() []*Param }

// NewHead builds the head described by spec with Kaiming (He) normal
// weights, std sqrt(2/fan_in), drawn from a generator seeded with seed, for
// each convolution in forward order; biases start at 0. The spec is
// normalised (defaults filled in); Spec returns the normalised one. An
// invalid spec or an unknown kind gives an error wrapping ErrSpec that
// names the known kinds.
func NewHead(spec HeadSpec, seed int64) (*Head, error) {
	s, k, err := spec.normalized()
	if err != nil {
		return nil, err
	}
	h := &Head{spec: s, kind: k, layers: k.layers(s, seed)}
	if c, ok := h.layers[0].(*Conv2d); ok {
		c.SkipInputGrad = true
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x4a11ce))
	for _, l := range h.layers {
		c, ok := l.(*Conv2d)
		if !ok {
			continue
		}
		std := math.Sqrt(2 / float64(c.InC*c.K*c.K))
		for i := range c.Weight.Data {
			c.Weight.Data[i] = float32(rng.NormFloat64() * std)
		}
	}
	return h, nil
}

// Spec returns the normalised spec of the head.
func (h *Head) Spec() HeadSpec { return h.spec }

// SetThreads sets the number of goroutines the head's layers use in
// Forward and Backward; n < 1 means the package default, GOMAXPROCS.
// Results are bit-identical for a
// given thread count. UnmarshalBinary keeps the setting.
func (h *Head) SetThreads(n int) {
	h.threads = max(n, 0)
	for _, l := range h.layers {
		if t, ok := l.(threaded); ok {
			t.setThreads(h.threads)
		}
	}
}

// Threads returns the thread count set with SetThreads (0: the package
// default).
func (h *Head) Threads() int { return h.threads }

// CheckInput reports whether the head accepts features with c channels:
// it returns an error matching ErrShape unless c is the spec's
// InChannels. Callers check it before Forward, which panics on a mismatch.
func (h *Head) CheckInput(c int) error {
	if c != h.spec.InChannels {
		return shapeErrorf("graph: head expects %d input channels, the features have %d", h.spec.InChannels, c)
	}
	return nil
}

// Forward returns the low-resolution logits for features x. In training
// mode batch norm uses batch statistics (and updates its running ones) and
// dropout is active. It panics when x has the wrong number of channels
// (see CheckInput) or, in training, too few values for batch norm (see
// HeadSpec.CheckTrainShape).
func (h *Head) Forward(x *Tensor, train bool) *Tensor {
	if h.kind == nil {
		panic("graph: Forward on a zero Head (use NewHead or UnmarshalBinary)")
	}
	for _, l := range h.layers {
		x = l.Forward(x, train)
	}
	return x
}

// Backward accumulates the parameter gradients for the logit gradient dy
// of the last Forward. No gradient reaches the features.
func (h *Head) Backward(dy *Tensor) {
	for i := len(h.layers) - 1; i >= 0; i-- {
		dy = h.layers[i].Backward(dy)
	}
}

// Params returns the trainable parameters in a fixed order.
func (h *Head) Params() []*Param {
	var ps []*Param
	for _, l := range h.layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Buffers returns the batch-norm running statistics (empty for a linear
// head): checkpointed, not optimised.
func (h *Head) Buffers() []*Param {
	var bs []*Param
	for _, l := range h.layers {
		if b, ok := l.(buffered); ok {
			bs = append(bs, b.Buffers()...)
		}
	}
	return bs
}

// ZeroGrad sets all parameter gradients to zero.
func (h *Head) ZeroGrad() {
	for _, p := range h.Params() {
		clear(p.Grad)
	}
}
