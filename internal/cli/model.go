package cli

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/graph"
	"github.com/lmpseg/lmpseg/infer"
	"github.com/lmpseg/lmpseg/onnx"
	"github.com/lmpseg/lmpseg/train"
)

// modelFlags select what eval and predict run: an exported model or a run folder.
var modelFlags = []cli.Flag{
	&cli.StringFlag{Name: "model", Usage: "an ONNX segmentation model (lmpseg export, or any model with NCHW scores or an N1HW label map)"},
	&cli.StringFlag{Name: "run", Usage: "a run folder from lmpseg train (backbone + Go head)"},
	&cli.StringFlag{Name: "mode", Value: "whole", Usage: "inference: whole, slide or resize (static-shape models default to resize)"},
	&cli.StringFlag{Name: "crop", Usage: "slide: window HxW; resize: target HxW"},
	&cli.StringFlag{Name: "stride", Usage: "slide: stride HxW (default: 2/3 of the window)"},
}

// loadedModel is a predictor with what it needs released by Close.
type loadedModel struct {
	*infer.Predictor
	Palette [][3]uint8
	// outClasses is the class count a model without class metadata declares in its output
	// shape (N x K x H x W with a fixed K > 1), else 0.
	outClasses int
	close      func() error
}

func (m *loadedModel) Close() error {
	if m.close != nil {
		return m.close()
	}
	return nil
}

// openModel builds the predictor that --model or --run names.
func openModel(c *cli.Context) (*loadedModel, error) {
	mp, run := c.String("model"), c.String("run")
	if (mp == "") == (run == "") {
		return nil, errors.New("give exactly one of --model MODEL.onnx or --run RUN")
	}
	if err := initRuntime(c); err != nil {
		return nil, err
	}
	lm := &loadedModel{Predictor: &infer.Predictor{}}
	var staticHW [2]int
	if mp != "" {
		m, err := onnx.Load(mp)
		if err != nil {
			return nil, err
		}
		if err := checkSegOutput(m); err != nil {
			return nil, err
		}
		md, err := infer.ReadMetadata(m)
		if err != nil {
			return nil, err
		}
		pre := data.ImageNet
		if md.Pre != nil {
			pre = *md.Pre
		}
		if lm.Pre, err = preprocessFrom(c, pre); err != nil {
			return nil, err
		}
		lm.Classes, lm.Palette = md.Classes, md.Palette
		if len(lm.Classes) == 0 {
			if d := m.Proto.GetGraph().GetOutput()[0].GetType().GetTensorType().GetShape().GetDim(); len(d) == 4 && d[1].GetDimValue() > 1 {
				lm.outClasses = int(d[1].GetDimValue())
			}
		}
		staticHW = staticInputHW(m)
		sess, err := onnx.OpenSession(mp, backboneOptions(c, ""))
		if err != nil {
			return nil, err
		}
		lm.Scorer = &infer.ModelScorer{Session: sess}
		lm.close = sess.Close
	} else {
		cfg, head, _, err := train.OpenRun(run)
		if err != nil {
			return nil, err
		}
		sha, err := onnx.Sha256(cfg.Backbone)
		if err != nil {
			return nil, fmt.Errorf("run %s: its backbone: %w", run, err)
		}
		if sha != cfg.BackboneSHA256 {
			return nil, fmt.Errorf("run %s was trained on a backbone with sha256 %.12s…, but %s now has %.12s…; restore the original file", run, cfg.BackboneSHA256, cfg.Backbone, sha)
		}
		if lm.Pre, err = preprocessFrom(c, cfg.Preprocess); err != nil {
			return nil, err
		}
		lm.Classes = cfg.Classes
		if c.Int("threads") > 0 {
			graph.SetThreads(c.Int("threads"))
		}
		bb, err := onnx.OpenBackbone(cfg.Backbone, backboneOptions(c, cfg.Feature))
		if err != nil {
			return nil, err
		}
		m, _ := onnx.Load(cfg.Backbone)
		if m != nil {
			staticHW = staticInputHW(m)
		}
		lm.Scorer = &infer.HeadScorer{Backbone: bb, Head: head}
		lm.close = bb.Close
	}
	mode := infer.Mode{Name: c.String("mode")}
	if mode.Name == "whole" && staticHW[0] > 0 && !c.IsSet("mode") {
		mode.Name = "resize"
	}
	var err error
	if s := c.String("crop"); s != "" {
		if mode.CropH, mode.CropW, err = parseHW("crop", s); err != nil {
			lm.Close()
			return nil, err
		}
	}
	switch mode.Name {
	case "whole":
	case "resize":
		if mode.CropH == 0 {
			if staticHW[0] == 0 {
				lm.Close()
				return nil, errors.New("--mode resize needs --crop HxW (the size to resize to) for a model with dynamic input size")
			}
			mode.CropH, mode.CropW = staticHW[0], staticHW[1]
		}
	case "slide":
		if mode.CropH == 0 {
			if staticHW[0] == 0 {
				lm.Close()
				return nil, errors.New("--mode slide needs --crop HxW (the window)")
			}
			mode.CropH, mode.CropW = staticHW[0], staticHW[1]
		}
		mode.StrideH, mode.StrideW = max(1, mode.CropH*2/3), max(1, mode.CropW*2/3)
		if s := c.String("stride"); s != "" {
			if mode.StrideH, mode.StrideW, err = parseHW("stride", s); err != nil {
				lm.Close()
				return nil, err
			}
		}
	default:
		lm.Close()
		return nil, fmt.Errorf("--mode %q: want whole, slide or resize", mode.Name)
	}
	lm.Mode = mode
	return lm, nil
}

// staticInputHW returns the input's H and W when both are fixed numbers.
func staticInputHW(m *onnx.Model) [2]int {
	ins := onnx.RealInputs(m.Proto.GetGraph())
	if len(ins) == 0 {
		return [2]int{}
	}
	dims := ins[0].GetType().GetTensorType().GetShape().GetDim()
	if len(dims) != 4 {
		return [2]int{}
	}
	h, w := dims[2].GetDimValue(), dims[3].GetDimValue()
	if h > 0 && w > 0 {
		return [2]int{int(h), int(w)}
	}
	return [2]int{}
}

// checkSegOutput rejects a model whose first output is declared with a rank that no segmentation
// model has (scores are N x K x H x W, label maps N x 1 x H x W or N x H x W), naming the file.
func checkSegOutput(m *onnx.Model) error {
	outs := m.Proto.GetGraph().GetOutput()
	if len(outs) == 0 {
		return fmt.Errorf("%s: the model has no outputs", m.Path)
	}
	shape := outs[0].GetType().GetTensorType().GetShape()
	if shape == nil {
		return nil // rank unknown: checked on the first image
	}
	if r := len(shape.GetDim()); r != 3 && r != 4 {
		return fmt.Errorf("%s: output %q has rank %d; a segmentation model outputs N x K x H x W scores or an N x 1 x H x W label map (is this a classifier or a backbone? train a head on it with 'lmpseg train')", m.Path, outs[0].GetName(), r)
	}
	return nil
}
