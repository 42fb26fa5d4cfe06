package infer

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/lmpseg/lmpseg/data"
	"github.com/lmpseg/lmpseg/metrics"
)

// JobOptions describe an evaluation job beyond the model: the shard, the class mapping and the
// HTML report.
type JobOptions struct {
	Shard  metrics.Shard // the zero value: the whole dataset
	Strict bool
	Ignore int32
	// ClassMap maps the model's classes to the dataset's (a file, reduce-zero-label or by-name,
	// see ParseClassMap); "" requires the model's classes to be the dataset's.
	ClassMap string
	// ReportDir, when set, receives an HTML report with the ReportWorst images of lowest mIoU.
	ReportDir   string
	ReportWorst int
	Meta        map[string]string // recorded in the result
	Progress    func(done, total int)
	Warn        func(msg string)
}

// Job is a finished evaluation.
type Job struct {
	Result   *metrics.Result
	Stats    EvalStats
	ClassMap *ClassMap // nil without one
}

// EvaluateJob evaluates m on the shard of ds that o names and returns the result, after checking
// that the model's classes are the dataset's (or mapping them), and writes the HTML report when
// asked for. mName and dsName name the two in errors.
func EvaluateJob(ctx context.Context, m *Model, ds data.Dataset, mName, dsName string, o JobOptions) (*Job, error) {
	classes := ds.Classes()
	job := &Job{}
	if o.Shard.N == 0 {
		o.Shard = metrics.Shard{I: 0, N: 1} // the zero shard is the whole dataset
	}
	if o.ClassMap == "" {
		if len(m.Classes) > 0 && len(m.Classes) != len(classes) {
			return nil, fmt.Errorf("infer: the model has %d classes, the dataset %s has %d; evaluate on a dataset with the model's classes, or map them with --class-map", len(m.Classes), dsName, len(classes))
		}
		if m.OutClasses > 0 && m.OutClasses != len(classes) {
			return nil, fmt.Errorf("infer: the model %s outputs %d classes, the dataset %s has %d; evaluate on a dataset with the model's classes, or map them with --class-map", mName, m.OutClasses, dsName, len(classes))
		}
		if err := data.CheckNamedClasses(m.Classes, classes, mName, dsName); err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
		m.Classes = classes
	} else {
		k := len(m.Classes)
		if k == 0 {
			k = m.OutClasses
		}
		if k == 0 && ds.Len() > 0 {
			// The model declares no class count (a dynamic class axis): read it off the first image.
			s, err := ds.Load(0)
			if err != nil {
				return nil, err
			}
			sc, _, _, _, err := m.Predictor.scores(s)
			if err != nil {
				return nil, err
			}
			if sc != nil {
				k = sc.C
			}
		}
		var err error
		if job.ClassMap, err = ParseClassMap(o.ClassMap, m.Classes, k, classes); err != nil {
			return nil, err
		}
	}
	if o.ReportDir != "" && o.ReportWorst < 0 {
		return nil, fmt.Errorf("infer: --report-worst %d: want a count of images, 0 or more", o.ReportWorst)
	}
	worst := &worstImages{k: o.ReportWorst, classes: len(classes), ignore: o.Ignore}
	eo := EvalOptions{Shard: o.Shard.I, Shards: o.Shard.N, Strict: o.Strict, Ignore: o.Ignore, ClassMap: job.ClassMap,
		Progress: o.Progress, Warn: o.Warn}
	if o.ReportDir != "" {
		eo.Image = worst.add
	}
	conf, st, err := Evaluate(ctx, m.Predictor, ds, len(classes), eo)
	if err == nil {
		err = conf.Err()
	}
	if err != nil {
		return nil, err
	}
	if st.Images == 0 && len(st.Skipped) > 0 {
		return nil, fmt.Errorf("infer: no image of %s could be evaluated: all %d failed to load (first: %s; the warnings above say why)", dsName, len(st.Skipped), st.Skipped[0])
	}
	res := metrics.NewResult(classes, o.Shard)
	res.Conf, res.Images, res.DatasetImages = conf, st.Images, ds.Len()
	res.Meta = map[string]string{"mode": m.Mode.Name}
	for k, v := range o.Meta {
		res.Meta[k] = v
	}
	if m.Output != nil {
		res.Meta["output"] = m.Output.Plan.String()
	}
	if job.ClassMap != nil {
		res.Meta["class_map"], res.Meta["class_map_pairs"] = job.ClassMap.Summary(), job.ClassMap.Pairs()
	}
	job.Result, job.Stats = res, st
	if o.ReportDir != "" {
		pal := m.Palette
		if len(pal) < len(classes) {
			pal = metrics.Palette(len(classes))
		}
		if err := worst.write(o.ReportDir, res, pal); err != nil {
			return job, err
		}
	}
	return job, nil
}

// worstImages keeps the k images of lowest mIoU (images whose pixels are all ignored are left
// out) for the HTML report.
type worstImages struct {
	k, classes int
	ignore     int32
	kept       []worstImage
}

type worstImage struct {
	s    *data.Sample
	pred []int32
	miou float64
}

// add is the per-image callback of Evaluate.
func (w *worstImages) add(s *data.Sample, pred []int32) {
	if w.k <= 0 {
		return
	}
	m := metrics.ImageMIoU(s.Label, pred, w.classes, w.ignore)
	if math.IsNaN(m) {
		return
	}
	if len(w.kept) == w.k {
		hi := 0
		for i, x := range w.kept {
			if x.miou > w.kept[hi].miou {
				hi = i
			}
		}
		if m >= w.kept[hi].miou {
			return
		}
		w.kept = slices.Delete(w.kept, hi, hi+1)
	}
	w.kept = append(w.kept, worstImage{s, pred, m})
}

// write writes each kept image, its labels and its prediction as PNGs into dir and the HTML
// report of res beside them.
func (w *worstImages) write(dir string, res *metrics.Result, pal [][3]uint8) error {
	slices.SortStableFunc(w.kept, func(a, b worstImage) int { return cmp.Compare(a.miou, b.miou) })
	sub := filepath.Join(dir, "images")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	var list []metrics.WorstImage
	for i, x := range w.kept {
		s := x.s
		base := fmt.Sprintf("%02d", i+1)
		wi := metrics.WorstImage{Name: s.Name, MIoU: x.miou, Image: filepath.Join("images", base+"_image.png"),
			GroundTruth: filepath.Join("images", base+"_gt.png"), Prediction: filepath.Join("images", base+"_pred.png")}
		if err := metrics.WriteImagePNG(filepath.Join(dir, wi.Image), s.Image, s.H, s.W); err != nil {
			return err
		}
		if err := metrics.WriteMaskPNG(filepath.Join(dir, wi.GroundTruth), s.Label, s.W, s.H, pal); err != nil {
			return err
		}
		if err := metrics.WriteMaskPNG(filepath.Join(dir, wi.Prediction), x.pred, s.W, s.H, pal); err != nil {
			return err
		}
		list = append(list, wi)
	}
	return metrics.WriteHTMLReportWith(dir, res, list, metrics.HTMLOptions{Palette: pal})
}
