package metrics

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// WorstImage is one image shown in an HTML report: its name, its mIoU
// (a fraction, NaN when undefined) and the paths, relative to the report's
// folder, of PNGs of the image, its ground truth and the prediction.
type WorstImage struct {
	Name                           string
	MIoU                           float64
	Image, GroundTruth, Prediction string
}

// HTMLOptions adjusts an HTML report.
type HTMLOptions struct {
	// Title heads the page; "Segmentation evaluation" when empty.
	Title string
	// Palette, when given, is shown as a legend of the class colours of the
	// ground truth and prediction masks (see MaskImage).
	Palette [][3]uint8
}

// Files that WriteHTMLReport writes into its folder.
const (
	HTMLReportFile    = "index.html"
	HTMLConfusionFile = "confusion.png"
	HTMLIoUFile       = "iou.png"
)

// WriteHTMLReport writes a report of r to dir/index.html with default
// HTMLOptions: see WriteHTMLReportWith.
func WriteHTMLReport(dir string, r *Result, worst []WorstImage) error {
	return WriteHTMLReportWith(dir, r, worst, HTMLOptions{})
}

// WriteHTMLReportWith writes a self-contained report of r to
// dir/index.html: the summary (aAcc, mIoU, mAcc, mDice, fwIoU, images,
// labelled pixels), the per-class table (IoU, Acc, Dice, share of the
// labelled pixels, all in percent), the IoU bars and the confusion heat map
// (written beside it as iou.png and confusion.png by IoUBars and
// ConfusionHeatmap), and the worst images, lowest mIoU first, each as
// image | ground truth | prediction. The page has inline CSS, no scripts and
// only relative links.
//
// The PNGs of worst must already be in dir: a path that is absolute, leaves
// dir or names no file is an error. Every file is written atomically
// (temporary file, then rename), index.html last. dir is created if needed.
func WriteHTMLReportWith(dir string, r *Result, worst []WorstImage, o HTMLOptions) error {
	if r == nil {
		return errors.New("metrics: no result to report")
	}
	if err := r.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for _, w := range worst {
		for _, p := range []struct{ what, path string }{{"image", w.Image}, {"ground truth", w.GroundTruth}, {"prediction", w.Prediction}} {
			if p.path == "" || !filepath.IsLocal(p.path) {
				return fmt.Errorf("metrics: report: the %s of %s is %q, not a path inside %s", p.what, w.Name, p.path, dir)
			}
			if st, err := os.Stat(filepath.Join(dir, p.path)); err != nil || !st.Mode().IsRegular() {
				return fmt.Errorf("metrics: report: the %s of %s, %s, is not a file in %s", p.what, w.Name, p.path, dir)
			}
		}
	}
	rep := r.Report()
	if err := writeAtomicWith(filepath.Join(dir, HTMLIoUFile), func(tmp string) error {
		return IoUBars(tmp, rep.Names(), rep.IoUs())
	}); err != nil {
		return err
	}
	if err := writeAtomicWith(filepath.Join(dir, HTMLConfusionFile), func(tmp string) error {
		return ConfusionHeatmap(tmp, r.Conf, r.Names)
	}); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, htmlPage(r, rep, worst, o)); err != nil {
		return fmt.Errorf("metrics: report: %w", err)
	}
	return writeAtomic(filepath.Join(dir, HTMLReportFile), b.Bytes())
}

// Names returns the class names of r.
func (r Report) Names() []string {
	n := make([]string, len(r.Classes))
	for i, c := range r.Classes {
		n[i] = c.Name
	}
	return n
}

// page is what the report template shows; numbers are already formatted.
type page struct {
	Title, Subtitle string
	Missing         string
	Meta            [][2]string
	Summary         [][2]string // header, value
	Classes         []classRow
	Notes           []string
	Legend          []legendEntry
	Worst           []worstRow
	IoUPNG, ConfPNG string
}

type classRow struct {
	Name, IoU, Acc, Dice, Share, Label, Pred string
	Bar                                      float64 // IoU in percent for the bar, 0 when undefined
	Absent                                   bool
}

type legendEntry struct {
	Name  string
	Color template.CSS
}

type worstRow struct {
	Name, MIoU                     string
	Image, GroundTruth, Prediction string
}

func htmlPage(r *Result, rep Report, worst []WorstImage, o HTMLOptions) page {
	p := page{Title: cmp.Or(o.Title, "Segmentation evaluation"), IoUPNG: HTMLIoUFile, ConfPNG: HTMLConfusionFile,
		Notes: rep.notes()}
	shards := "the whole dataset"
	if len(r.Shards) != 1 || r.Shards[0] != Whole {
		shards = "shards " + shardList(r.Shards)
	}
	p.Subtitle = fmt.Sprintf("%d classes, %d images (%s)", len(r.Names), r.Images, shards)
	if r.DatasetImages > 0 {
		p.Subtitle += fmt.Sprintf(" of a dataset of %d images", r.DatasetImages)
	}
	if m := r.Missing(); len(m) > 0 {
		p.Missing = shardList(m)
	}
	keys := make([]string, 0, len(r.Meta))
	for k := range r.Meta {
		if r.Meta[k] != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		p.Meta = append(p.Meta, [2]string{k, r.Meta[k]})
	}
	p.Summary = [][2]string{{"aAcc", pct(rep.AAcc, "n/a")}, {"mIoU", pct(rep.MIoU, "n/a")}, {"mAcc", pct(rep.MAcc, "n/a")},
		{"mDice", pct(rep.MDice, "n/a")}, {"fwIoU", pct(rep.FWIoU, "n/a")}, {"images", strconv.Itoa(r.Images)},
		{"labelled pixels", strconv.FormatInt(rep.Pixels, 10)}}
	for _, c := range rep.Classes {
		row := classRow{Name: c.Name, Label: strconv.FormatInt(c.Label, 10), Pred: strconv.FormatInt(c.Pred, 10), Absent: c.Absent}
		row.Share = "n/a"
		if rep.Pixels > 0 {
			row.Share = pct(float64(c.Label)/float64(rep.Pixels), "n/a")
		}
		if c.Absent {
			row.IoU, row.Acc, row.Dice = "absent", "absent", "absent"
		} else {
			row.IoU, row.Acc, row.Dice = pct(c.IoU, "n/a"), pct(c.Acc, "n/a"), pct(c.Dice, "n/a")
			if !math.IsNaN(c.IoU) {
				row.Bar = math.Round(1000*c.IoU) / 10
			}
		}
		p.Classes = append(p.Classes, row)
	}
	for i, c := range o.Palette {
		if i >= len(r.Names) {
			break
		}
		p.Legend = append(p.Legend, legendEntry{Name: rep.Classes[i].Name,
			Color: template.CSS(fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2]))})
	}
	ws := slices.Clone(worst)
	slices.SortStableFunc(ws, func(a, b WorstImage) int {
		an, bn := math.IsNaN(a.MIoU), math.IsNaN(b.MIoU)
		switch {
		case an && bn:
			return 0
		case an:
			return 1
		case bn:
			return -1
		}
		return cmp.Compare(a.MIoU, b.MIoU)
	})
	for _, w := range ws {
		p.Worst = append(p.Worst, worstRow{Name: w.Name, MIoU: pct(w.MIoU, "n/a"),
			Image: filepath.ToSlash(w.Image), GroundTruth: filepath.ToSlash(w.GroundTruth), Prediction: filepath.ToSlash(w.Prediction)})
	}
	return p
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d2733; background: #f6f7f9; margin: 0; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #dde2e8; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: #5a6675; margin: 0 0 12px; }
.warn { background: #fff4e0; border: 1px solid #f0c36d; padding: 8px 12px; border-radius: 4px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0; color: #3b4654; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; word-break: break-all; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e6e9ee; }
th { background: #eef1f5; text-align: center; font-weight: 600; }
td.num { text-align: right; }
#summary td { font-size: 18px; font-weight: 600; text-align: center; min-width: 90px; }
#classes { width: 100%; }
#classes td.name { font-weight: 500; }
#classes tr.absent td { color: #98a2ae; }
#classes tbody tr:nth-child(even) { background: #fafbfc; }
td.bar { width: 28%; }
td.bar { background: linear-gradient(#eef1f5, #eef1f5) no-repeat center / calc(100% - 20px) 10px; }
td.bar div { height: 10px; background: #3182bd; border-radius: 2px; }
.notes { color: #5a6675; font-size: 13px; padding-left: 18px; }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e6e9ee; }
figcaption { color: #5a6675; font-size: 12.5px; text-align: center; margin-top: 2px; }
.plots figure { margin: 10px 0 22px; text-align: center; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 6px 0 10px; font-size: 12.5px; }
.legend span.sw { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 4px; border: 1px solid #0003; }
.trio { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; }
.trio img { width: 100%; }
.trio img.mask { image-rendering: pixelated; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="sub">{{.Subtitle}}</p>
{{if .Missing}}<p class="warn">Partial result: shards {{.Missing}} are missing from this evaluation.</p>
{{end}}{{if .Meta}}<dl class="meta">{{range .Meta}}<dt>{{index . 0}}</dt><dd>{{index . 1}}</dd>{{end}}</dl>
{{end}}
<h2>Summary</h2>
<table id="summary">
<thead><tr>{{range .Summary}}<th>{{index . 0}}</th>{{end}}</tr></thead>
<tbody><tr>{{range .Summary}}<td>{{index . 1}}</td>{{end}}</tr></tbody>
</table>
<p class="sub">aAcc to fwIoU in percent; absent classes are left out of the means.</p>

<h2>Per class</h2>
<table id="classes">
<thead><tr><th>Class</th><th>IoU</th><th>Acc</th><th>Dice</th><th>Pixel share</th><th>Labelled pixels</th><th>Predicted pixels</th><th>IoU bar</th></tr></thead>
<tbody>
{{range .Classes}}<tr{{if .Absent}} class="absent"{{end}}><td class="name">{{.Name}}</td><td class="num">{{.IoU}}</td><td class="num">{{.Acc}}</td><td class="num">{{.Dice}}</td><td class="num">{{.Share}}</td><td class="num">{{.Label}}</td><td class="num">{{.Pred}}</td><td class="bar"><div style="width: {{.Bar}}%"></div></td></tr>
{{end}}</tbody>
</table>
<p class="sub">IoU, Acc, Dice and pixel share (of the labelled pixels) in percent.</p>
{{if .Notes}}<ul class="notes">{{range .Notes}}<li>{{.}}</li>{{end}}</ul>
{{end}}
<h2>Plots</h2>
<div class="plots">
<figure><a href="{{.IoUPNG}}"><img src="{{.IoUPNG}}" alt="per-class IoU bars"/></a><figcaption>Per-class IoU with the mIoU as a dashed line</figcaption></figure>
<figure><a href="{{.ConfPNG}}"><img src="{{.ConfPNG}}" alt="confusion matrix heat map"/></a><figcaption>Confusion matrix, each row normalised to its true class</figcaption></figure>
</div>
{{if .Worst}}
<h2>Worst images</h2>
<p class="sub">Lowest per-image mIoU first: image, ground truth, prediction.</p>
{{if .Legend}}<div class="legend">{{range .Legend}}<span><span class="sw" style="background: {{.Color}}"></span>{{.Name}}</span>{{end}}<span><span class="sw" style="background: #000000"></span>ignored or unknown label</span></div>
{{end}}{{range .Worst}}<section class="worst">
<h3>{{.Name}} <span class="sub">mIoU {{.MIoU}}</span></h3>
<div class="trio">
<figure><a href="{{.Image}}"><img src="{{.Image}}" alt="image"/></a><figcaption>image</figcaption></figure>
<figure><a href="{{.GroundTruth}}"><img class="mask" src="{{.GroundTruth}}" alt="ground truth"/></a><figcaption>ground truth</figcaption></figure>
<figure><a href="{{.Prediction}}"><img class="mask" src="{{.Prediction}}" alt="prediction"/></a><figcaption>prediction</figcaption></figure>
</div>
</section>
{{end}}{{end}}
</main>
</body>
</html>
`))

// ImageMIoU returns the mIoU of one image, computed as Report computes it
// for a matrix of that image's pixels alone: the mean IoU over the k
// classes that occur in its labels or predictions, NaN when none does (all
// pixels ignored). It is the score by which to pick an HTML report's worst
// images. It panics if the lengths differ or k < 1.
func ImageMIoU(gt, pred []int32, k int, ignore int32) float64 {
	c := NewConfusion(k)
	c.Add(gt, pred, ignore)
	return c.Report(nil).MIoU
}
