package metrics

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// percentTicks marks 0, 20, ..., 100 whatever headroom the axis has.
var percentTicks = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 20, Label: "20"}, {Value: 40, Label: "40"},
	{Value: 60, Label: "60"}, {Value: 80, Label: "80"}, {Value: 100, Label: "100"}}

// XY is one point of a curve.
type XY struct{ X, Y float64 }

// blues is a white-to-dark-blue colour map for values in [0, 1].
type blues int

func (n blues) Colors() []color.Color {
	cs := make([]color.Color, n)
	for i := range cs {
		t := float64(i) / float64(n-1)
		lerp := func(a, b float64) uint8 { return uint8(math.Round(a + (b-a)*t)) }
		cs[i] = color.RGBA{lerp(247, 8), lerp(251, 48), lerp(255, 107), 255}
	}
	return cs
}

// heatGrid is a row-normalised confusion matrix laid out for HeatMap, with
// row 0 (the first true class) at the top.
type heatGrid struct {
	k int
	v []float64 // row-normalised, row-major
}

func (g heatGrid) Dims() (c, r int)   { return g.k, g.k }
func (g heatGrid) Z(c, r int) float64 { return g.v[(g.k-1-r)*g.k+c] }
func (g heatGrid) X(c int) float64    { return float64(c) }
func (g heatGrid) Y(r int) float64    { return float64(r) }

func checkNames(names []string, k int) ([]string, error) {
	if names == nil {
		names = make([]string, k)
		for i := range names {
			names[i] = fmt.Sprint(i)
		}
	}
	if len(names) != k {
		return nil, fmt.Errorf("metrics: %d class names for %d classes", len(names), k)
	}
	return names, nil
}

func rotateX(p *plot.Plot) {
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
}

func save(p *plot.Plot, w, h vg.Length, path string) error {
	if err := p.Save(w, h, path); err != nil {
		return fmt.Errorf("metrics: plot %s: %w", path, err)
	}
	return nil
}

// ConfusionHeatmap draws the confusion matrix of c, each row divided by its
// sum (so the diagonal is each class's accuracy), as a PNG at path: true
// classes down the side, predictions along the bottom, white 0% to dark blue
// 100%. Cells carry their percentage when there are at most 30 classes.
// Rows without labelled pixels stay white.
func ConfusionHeatmap(path string, c *Confusion, names []string) error {
	k := c.K
	names, err := checkNames(names, k)
	if err != nil {
		return err
	}
	c.init()
	if err := c.Validate(); err != nil {
		return err
	}
	g := heatGrid{k: k, v: make([]float64, k*k)}
	for r := 0; r < k; r++ {
		var sum int64
		for p := 0; p < k; p++ {
			sum += c.M[r*k+p]
		}
		sum += c.OutOfRange[r]
		for p := 0; p < k && sum > 0; p++ {
			g.v[r*k+p] = float64(c.M[r*k+p]) / float64(sum)
		}
	}
	p := plot.New()
	p.Title.Text = "Confusion matrix (rows normalised: % of each true class)"
	p.X.Label.Text = "predicted class"
	p.Y.Label.Text = "true class"
	hm := plotter.NewHeatMap(g, blues(256))
	hm.Min, hm.Max = 0, 1
	p.Add(hm)
	p.NominalX(names...)
	rev := make([]string, k)
	for i, n := range names {
		rev[k-1-i] = n
	}
	p.NominalY(rev...)
	rotateX(p)
	p.X.Min, p.X.Max = -0.5, float64(k)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(k)-0.5
	if k <= 30 {
		var xys plotter.XYLabels
		var styles []draw.TextStyle
		for r := 0; r < k; r++ {
			for col := 0; col < k; col++ {
				v := g.v[r*k+col]
				if v == 0 {
					continue
				}
				xys.XYs = append(xys.XYs, plotter.XY{X: float64(col), Y: float64(k - 1 - r)})
				xys.Labels = append(xys.Labels, fmt.Sprintf("%.0f", 100*v))
				st := draw.TextStyle{Color: color.Black, Font: p.X.Tick.Label.Font, Handler: p.X.Tick.Label.Handler,
					XAlign: draw.XCenter, YAlign: draw.YCenter}
				st.Font.Size = vg.Points(7)
				if v > 0.5 {
					st.Color = color.White
				}
				styles = append(styles, st)
			}
		}
		if len(styles) > 0 {
			lab, err := plotter.NewLabels(xys)
			if err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
			lab.TextStyle = styles
			p.Add(lab)
		}
	}
	side := max(6*vg.Inch, vg.Length(k)*0.4*vg.Inch+2*vg.Inch)
	return save(p, side, side, path)
}

// IoUBars draws the per-class IoU (fractions, NaN for absent classes) as a
// bar chart in percent with the mIoU as a dashed line, PNG at path.
func IoUBars(path string, names []string, iou []float64) error {
	names, err := checkNames(names, len(iou))
	if err != nil {
		return err
	}
	if len(iou) == 0 {
		return errors.New("metrics: no classes to plot")
	}
	vals := make(plotter.Values, len(iou))
	var xys plotter.XYLabels
	var sum float64
	n := 0
	for i, v := range iou {
		label := "absent"
		if !math.IsNaN(v) {
			vals[i] = 100 * v
			sum += v
			n++
			label = fmt.Sprintf("%.1f", 100*v)
		}
		xys.XYs = append(xys.XYs, plotter.XY{X: float64(i), Y: vals[i] + 1})
		xys.Labels = append(xys.Labels, label)
	}
	p := plot.New()
	p.Title.Text = "Per-class IoU"
	if n > 0 {
		p.Title.Text += fmt.Sprintf(" (mIoU %.2f%% over %d classes; absent classes left out)", 100*sum/float64(n), n)
	}
	p.Y.Label.Text = "IoU (%)"
	p.Y.Min, p.Y.Max = 0, 108
	p.Y.Tick.Marker = percentTicks
	barW := vg.Points(14)
	bars, err := plotter.NewBarChart(vals, barW)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	bars.Color = color.RGBA{49, 130, 189, 255}
	bars.LineStyle.Width = 0
	p.Add(bars)
	if n > 0 {
		m := 100 * sum / float64(n)
		line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: m}, {X: float64(len(iou)) - 0.5, Y: m}})
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		line.Color = color.RGBA{200, 30, 30, 255}
		p.Add(line)
		p.Legend.Add("mIoU", line)
		p.Legend.Top = true
	}
	lab, err := plotter.NewLabels(xys)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].Font.Size = vg.Points(7)
		lab.TextStyle[i].XAlign = draw.XCenter
	}
	p.Add(lab)
	p.NominalX(names...)
	rotateX(p)
	w := max(6*vg.Inch, vg.Length(len(iou))*(barW+vg.Points(8))+1.5*vg.Inch)
	return save(p, w, 4.5*vg.Inch, path)
}

// LossCurves draws one line per named series (for example the training
// loss of each loss function against the iteration), PNG at path. Points
// with a NaN or infinite value are skipped.
func LossCurves(path string, series map[string][]XY) error {
	if len(series) == 0 {
		return errors.New("metrics: no loss curves to plot")
	}
	names := make([]string, 0, len(series))
	for n := range series {
		names = append(names, n)
	}
	sort.Strings(names)
	p := plot.New()
	p.Title.Text = "Training loss"
	p.X.Label.Text = "iteration"
	p.Y.Label.Text = "loss"
	p.Add(plotter.NewGrid())
	for i, n := range names {
		var xys plotter.XYs
		for _, pt := range series[n] {
			if isFinite(pt.X) && isFinite(pt.Y) {
				xys = append(xys, plotter.XY{X: pt.X, Y: pt.Y})
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(n, line)
	}
	p.Legend.Top = true
	return save(p, 7*vg.Inch, 4.5*vg.Inch, path)
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// GroupedIoUBars draws per-class IoU bars side by side for several runs,
// one colour per key of iou (for example per loss function), PNG at path.
// Each slice holds fractions, NaN for absent classes (drawn as no bar).
func GroupedIoUBars(path string, names []string, iou map[string][]float64) error {
	if len(iou) == 0 {
		return errors.New("metrics: no IoU series to plot")
	}
	keys := make([]string, 0, len(iou))
	for k, v := range iou {
		if names != nil && len(v) != len(names) {
			return fmt.Errorf("metrics: %s has %d IoU values for %d classes", k, len(v), len(names))
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	k := len(iou[keys[0]])
	names, err := checkNames(names, k)
	if err != nil {
		return err
	}
	for _, key := range keys {
		if len(iou[key]) != k {
			return fmt.Errorf("metrics: %s has %d IoU values, %s has %d", key, len(iou[key]), keys[0], k)
		}
	}
	p := plot.New()
	p.Title.Text = "Per-class IoU by loss"
	p.Y.Label.Text = "IoU (%)"
	p.Y.Min, p.Y.Max = 0, 100+8*float64(len(keys)) // room for the legend
	p.Y.Tick.Marker = percentTicks
	barW := vg.Points(max(3, 36/float64(len(keys))))
	for i, key := range keys {
		vals := make(plotter.Values, k)
		var sum float64
		n := 0
		for c, v := range iou[key] {
			if !math.IsNaN(v) {
				vals[c] = 100 * v
				sum += v
				n++
			}
		}
		bars, err := plotter.NewBarChart(vals, barW)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = barW * vg.Length(float64(i)-float64(len(keys)-1)/2)
		p.Add(bars)
		label := key
		if n > 0 {
			label = fmt.Sprintf("%s (mIoU %.2f)", key, 100*sum/float64(n))
		}
		p.Legend.Add(label, bars)
	}
	p.Legend.Top = true
	p.Legend.Left = false
	p.NominalX(names...)
	rotateX(p)
	w := max(7*vg.Inch, vg.Length(k)*(barW*vg.Length(len(keys))+vg.Points(10))+2*vg.Inch)
	return save(p, w, 5*vg.Inch, path)
}
