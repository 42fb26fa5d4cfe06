package graph

import "testing"

func init() {
	headExamples[KindLinear] = []HeadSpec{
		{Kind: KindLinear, InChannels: 16, Classes: 5},
		{Kind: KindLinear, InChannels: 3, Classes: 1, Hidden: 7, Dropout: 0.3}, // Hidden and Dropout are dropped
	}
}

func TestLinearHead(t *testing.T) {
	h, err := NewHead(HeadSpec{Kind: KindLinear, InChannels: 6, Classes: 3, Hidden: 9, Dropout: 0.5}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s := h.Spec(); s.Hidden != 0 || s.Dropout != 0 {
		t.Errorf("linear spec keeps hidden %d, dropout %v", s.Hidden, s.Dropout)
	}
	if len(h.Params()) != 2 || len(h.Buffers()) != 0 {
		t.Errorf("linear head: %d params, %d buffers, want 2 and 0", len(h.Params()), len(h.Buffers()))
	}
	// Training works on any non-empty batch.
	if err := h.Spec().CheckTrainShape(1, 1, 1); err != nil {
		t.Errorf("CheckTrainShape(1, 1, 1): %v", err)
	}
	nodes, _, err := h.ToONNX("x", "y", "p/")
	if err != nil || len(nodes) != 1 || nodes[0].GetOpType() != "Conv" {
		t.Errorf("linear head lowers to %d nodes (%v), want one Conv", len(nodes), err)
	}
}
