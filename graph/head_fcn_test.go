package graph

import (
	"errors"
	"strings"
	"testing"
)

func init() {
	headExamples[KindFCN] = []HeadSpec{
		{Kind: KindFCN, InChannels: 12, Classes: 4, Hidden: 8},
		{Kind: KindFCN, InChannels: 3, Classes: 3, Hidden: 16, Dropout: -1},
		{Kind: KindFCN, InChannels: 5, Classes: 2, Hidden: 70, Dropout: 0.3}, // wider than smallOut
	}
}

func TestFCNHead(t *testing.T) {
	h, err := NewHead(HeadSpec{Kind: KindFCN, InChannels: 4, Classes: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s := h.Spec(); s.Hidden != 256 || s.Dropout != 0.1 {
		t.Errorf("fcn defaults: %+v", s)
	}
	if len(h.Params()) != 5 || len(h.Buffers()) != 2 {
		t.Errorf("fcn head: %d params, %d buffers, want 5 and 2", len(h.Params()), len(h.Buffers()))
	}
	var ops []string
	nodes, _, err := h.ToONNX("x", "y", "p/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		ops = append(ops, n.GetOpType())
	}
	if strings.Join(ops, ",") != "Conv,Relu,Conv" {
		t.Errorf("fcn head lowers to %v, want Conv, Relu, Conv", ops)
	}
}

// TestFCNCheckTrainShape checks that CheckTrainShape refuses exactly the
// batches on which a training forward panics (batch norm with one value
// per channel), with a message that says what to change.
func TestFCNCheckTrainShape(t *testing.T) {
	spec := HeadSpec{Kind: KindFCN, InChannels: 3, Classes: 2, Hidden: 4}
	h, err := NewHead(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n, h, w int
		ok      bool
	}{
		{1, 1, 1, false}, {2, 1, 1, true}, {1, 1, 2, true}, {1, 2, 1, true}, {3, 4, 5, true},
	} {
		err := spec.CheckTrainShape(tc.n, tc.h, tc.w)
		if (err == nil) != tc.ok {
			t.Errorf("CheckTrainShape(%d, %d, %d) = %v, want ok %v", tc.n, tc.h, tc.w, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "batch norm needs more than one feature value per channel") ||
				!strings.Contains(err.Error(), "batch of 2") {
				t.Errorf("CheckTrainShape(%d, %d, %d): unclear error %q", tc.n, tc.h, tc.w, err)
			}
		}
		panicked := func() (p bool) {
			defer func() { p = recover() != nil }()
			h.SetThreads(1) // a panic in a worker goroutine could not be recovered
			h.Forward(NewTensor(tc.n, 3, tc.h, tc.w), true)
			return false
		}()
		if panicked == tc.ok {
			t.Errorf("batch %dx%dx%d: CheckTrainShape ok %v but training forward panics %v", tc.n, tc.h, tc.w, tc.ok, panicked)
		}
	}
}
