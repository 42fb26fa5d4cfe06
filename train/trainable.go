package train

import (
	"encoding"
	"errors"
	"fmt"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/lift"
	"github.com/lmpseg/lmpseg/onnx"
)

// LiftConfig, when a recipe holds one, trains the backbone's own decoder instead of a new
// head: the part of the backbone's graph from the tensor From to the model's output, lifted
// into Go layers with the model's weights (package lift) and trained on top of the frozen part,
// which computes From.
type LiftConfig struct {
	From string `json:"from"`
	// FreezeBN keeps the decoder's batch norms in inference mode (--freeze-bn).
	FreezeBN bool `json:"freeze_bn,omitempty"`
	// ResetClassifier replaces the classifier even when the class count is the model's.
	ResetClassifier bool `json:"reset_classifier,omitempty"`
	// LRMult scales --lr for the parameters that come from the model (--lr-lifted); a fresh
	// classifier trains at --lr.
	LRMult float64 `json:"lr_mult"`
	// Output is the model output the decoder ends at: "" picks, when the run starts, the first
	// graph output not named as an auxiliary head (infer.AuxName) that depends on From.
	Output string `json:"output,omitempty"`
	// Inputs are the frozen tensors the decoder reads, From first, filled in when the run
	// starts; with more than one the backbone returns them packed (graph.PackTensors), and
	// the feature cache keeps them packed (its float16 holds their sizes exactly up to 2048;
	// larger ones are refused when read).
	Inputs []string `json:"inputs,omitempty"`
}

// LiftedKind is the head kind config.json records for a lifted decoder.
const LiftedKind = "lifted"

// newTrainable builds the net cfg trains, initialised as at iteration 0: a new head of cfg.Head,
// or with cfg.Lift the backbone's decoder lifted from cfg.Lift.From out of m, the backbone model
// (loaded from cfg.Backbone when nil).
func newTrainable(cfg *Config, m *onnx.Model, threads int) (graph.Trainable, error) {
	if cfg.Lift == nil {
		h, err := graph.NewHead(cfg.Head, cfg.Seed)
		if err != nil {
			return nil, err
		}
		h.SetThreads(threads)
		return h, nil
	}
	if m == nil {
		var err error
		if m, err = onnx.Load(cfg.Backbone); err != nil {
			return nil, fmt.Errorf("train: --trainable-from: %w", err)
		}
	}
	return liftFrom(m, cfg, threads)
}

// liftFrom lifts cfg's decoder from the backbone model m.
func liftFrom(m *onnx.Model, cfg *Config, threads int) (*lift.Head, error) {
	l := cfg.Lift
	net, err := lift.Lift(m, l.From, lift.Options{
		Output: l.Output, H: cfg.Crop[0], W: cfg.Crop[1], Classes: len(cfg.Classes), ResetClassifier: l.ResetClassifier,
		Seed: cfg.Seed, FreezeBN: l.FreezeBN, Threads: threads, Dropout: cfg.Head.Dropout, DropFinalResize: true,
	})
	if err != nil {
		return nil, fmt.Errorf("train: --trainable-from %s: %w", l.From, err)
	}
	return lift.NewHead(net, len(cfg.Classes), l.LRMult), nil
}

// loadTrainable rebuilds the net of cfg from its checkpoint encoding b.
func loadTrainable(cfg *Config, b []byte, threads int) (graph.Trainable, error) {
	if cfg.Lift == nil {
		h := new(graph.Head)
		if err := h.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		h.SetThreads(threads)
		return h, nil
	}
	t, err := newTrainable(cfg, nil, threads)
	if err != nil {
		return nil, err
	}
	if err := t.(*lift.Head).UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return t, nil
}

// restore loads the checkpoint encoding b into t, a net of the same recipe.
func restore(t graph.Trainable, b []byte) error {
	u, ok := t.(encoding.BinaryUnmarshaler)
	if !ok {
		panic(fmt.Sprintf("train: a %T cannot be restored from a checkpoint", t))
	}
	return u.UnmarshalBinary(b)
}

// check validates the lifted decoder's part of a recipe without the model.
func (l *LiftConfig) check() error {
	if l.From == "" {
		return errors.New("train: --trainable-from: give the tensor the decoder starts at ('lmpseg inspect MODEL' lists them)")
	}
	if !(l.LRMult > 0) || math.IsInf(l.LRMult, 0) {
		return fmt.Errorf("train: --lr-lifted %v: want a positive multiple of --lr", l.LRMult)
	}
	return nil
}

// prepareLift lifts the decoder of rc out of the backbone model m once before the job starts, to
// refuse what cannot be trained before anything runs, and records the output it ends at and the
// tensors it reads in rc.Lift. (The job lifts it again from the final recipe: resolve may still
// set the crop, whose size the decoder's shape nodes read.)
func prepareLift(rc *Config, m *onnx.Model) error {
	l := rc.Lift
	if t := onnx.TensorType(m, l.From); t != "" && t != "float32" {
		return fmt.Errorf("train: --trainable-from %s: the tensor is %s; the decoder is lifted from a float32 tensor: pick one of the float32 part of %s", l.From, t, rc.Backbone)
	}
	var h *lift.Head
	if l.Output == "" {
		var outs, aux []string
		for _, o := range m.Proto.GetGraph().GetOutput() {
			if infer.AuxName(o.GetName()) {
				aux = append(aux, scoresOf(m.Proto.GetGraph(), o.GetName()))
			} else {
				outs = append(outs, scoresOf(m.Proto.GetGraph(), o.GetName()))
			}
		}
		if all := append(outs, aux...); len(all) == 1 {
			l.Output = all[0]
		} else {
			var err error
			if h, err = pickOutput(m, rc, all); err != nil {
				return err
			}
		}
	}
	if h == nil {
		var err error
		if h, err = liftFrom(m, rc, 1); err != nil {
			return err
		}
	}
	l.Inputs = h.Net.Inputs()
	rc.Feature = l.From
	if err := h.Net.CheckTrainShape(rc.Batch); err != nil {
		return fmt.Errorf("train: --batch %d: %w; give --batch 2 or more, or --freeze-bn", rc.Batch, err)
	}
	return nil
}

// pickOutput sets rc.Lift.Output to the first of outputs the decoder can end at and returns the
// decoder lifted to it, or returns the error of lifting to the first when none works.
func pickOutput(m *onnx.Model, rc *Config, outputs []string) (*lift.Head, error) {
	var first error
	for _, o := range outputs {
		rc.Lift.Output = o
		h, err := liftFrom(m, rc, 1)
		if err == nil {
			return h, nil
		}
		if first == nil {
			first = err
		}
	}
	rc.Lift.Output = ""
	if first == nil {
		return nil, errors.New("train: --trainable-from: the model has no outputs")
	}
	return nil, first
}

// scoresOf returns the class scores an output is computed from when the model ends in a softmax
// or an argmax (probabilities or a label map, which the pixel losses cannot train): the input of
// that Softmax, LogSoftmax or ArgMax, through a Cast, Squeeze or Unsqueeze after an ArgMax and
// through Identity nodes. Any other output is returned as it is.
func scoresOf(g *pb.GraphProto, output string) string {
	producer := map[string]*pb.NodeProto{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	name, labels := output, false
	for {
		n := producer[name]
		if n == nil || len(n.GetInput()) == 0 {
			return output
		}
		switch op := n.GetOpType(); {
		case op == "Identity":
		case op == "Cast" || op == "Squeeze" || op == "Unsqueeze":
			labels = true // only between an ArgMax and the output
		case op == "ArgMax" || op == "Softmax" || op == "LogSoftmax":
			if op != "ArgMax" && labels {
				return output
			}
			return n.GetInput()[0]
		default:
			return output
		}
		name = n.GetInput()[0]
	}
}
