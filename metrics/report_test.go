package metrics

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// htmlDoc is what the tests read back from a report page.
type htmlDoc struct {
	links  []string              // href and src values
	tables map[string][][]string // by id: rows of cell texts, header first
	h3     []string              // texts of the h3 headings
	tags   map[string]int        // element counts by name
}

// parseHTML reads a page with encoding/xml in its lenient HTML mode.
func parseHTML(t *testing.T, b []byte) htmlDoc {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	doc := htmlDoc{tables: map[string][][]string{}, tags: map[string]int{}}
	var table string // id of the table being read
	var cell *strings.Builder
	var h3 *strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(tok.Name.Local)
			doc.tags[name]++
			for _, a := range tok.Attr {
				switch strings.ToLower(a.Name.Local) {
				case "href", "src":
					doc.links = append(doc.links, a.Value)
				case "id":
					if name == "table" {
						table = a.Value
					}
				}
			}
			switch name {
			case "tr":
				if table != "" {
					doc.tables[table] = append(doc.tables[table], nil)
				}
			case "td", "th":
				cell = new(strings.Builder)
			case "h3":
				h3 = new(strings.Builder)
			}
		case xml.EndElement:
			switch strings.ToLower(tok.Name.Local) {
			case "table":
				table = ""
			case "td", "th":
				if rows := doc.tables[table]; table != "" && len(rows) > 0 {
					rows[len(rows)-1] = append(rows[len(rows)-1], strings.TrimSpace(cell.String()))
				}
				cell = nil
			case "h3":
				doc.h3 = append(doc.h3, strings.Join(strings.Fields(h3.String()), " "))
				h3 = nil
			}
		case xml.CharData:
			if cell != nil {
				cell.Write(tok)
			}
			if h3 != nil {
				h3.Write(tok)
			}
		}
	}
	return doc
}

// column returns the cells of the column headed name.
func column(t *testing.T, rows [][]string, name string) []string {
	t.Helper()
	if len(rows) == 0 {
		t.Fatalf("empty table looking for %q", name)
	}
	for j, h := range rows[0] {
		if h == name {
			var col []string
			for _, r := range rows[1:] {
				if j >= len(r) {
					t.Fatalf("row %q lacks column %q", r, name)
				}
				col = append(col, r[j])
			}
			return col
		}
	}
	t.Fatalf("no column %q in %q", name, rows[0])
	return nil
}

// checkPercent checks that a cell shows the fraction want in percent with
// two decimals, or undefined when want is NaN.
func checkPercent(t *testing.T, what, cell string, want float64, undefined string) {
	t.Helper()
	if math.IsNaN(want) {
		if cell != undefined {
			t.Errorf("%s is %q, want %q", what, cell, undefined)
		}
		return
	}
	v, err := strconv.ParseFloat(cell, 64)
	if err != nil || math.Abs(v-100*want) > 0.005+1e-9 {
		t.Errorf("%s is %q, want %.4f", what, cell, 100*want)
	}
}

// reportFixture returns a 19-class result with an absent class, a class that
// is only predicted and names that need escaping.
func reportFixture() *Result {
	r := rand.New(rand.NewPCG(5, 6))
	names := append([]string(nil), cityNames...)
	names[3] = `wall <& "fence">`
	res := NewResult(names, Shard{1, 4})
	k := len(names)
	for g := 0; g < k; g++ {
		if g == 16 || g == 12 {
			continue // 16 absent; 12 only predicted
		}
		for p := 0; p < k; p++ {
			if p == 16 {
				continue
			}
			n := r.IntN(40)
			if p == g {
				n = 100 + r.IntN(900)
			}
			res.Conf.M[g*k+p] = int64(n)
		}
	}
	res.Conf.OutOfRange[2] = 17
	res.Images = 12
	res.DatasetImages = 50
	res.Meta = map[string]string{"model": "m.onnx", "data": "city/val"}
	return res
}

func TestWriteHTMLReport(t *testing.T) {
	dir := plotDir(t)
	res := reportFixture()
	rep := res.Report()
	pal := Palette(len(res.Names))
	var worst []WorstImage
	rng := rand.New(rand.NewPCG(7, 8))
	const w, h = 48, 32
	if err := os.MkdirAll(filepath.Join(dir, "worst img"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, miou := range []float64{0.41, 0.12, math.NaN(), 0.3} {
		gt, pred := make([]int32, w*h), make([]int32, w*h)
		rgb := make([]float32, 3*w*h)
		for j := range gt {
			x, y := j%w, j/w
			gt[j] = int32((x/12 + 2*(y/16)) % len(pal))
			pred[j] = gt[j]
			if rng.IntN(4) == 0 {
				pred[j] = int32(rng.IntN(len(pal)))
			}
			if y < 3 {
				gt[j] = 255
			}
			for c := 0; c < 3; c++ {
				rgb[c*w*h+j] = float32((x*5 + y*3 + 80*c) % 256)
			}
		}
		name := fmt.Sprintf("frankfurt_%06d & co", i)
		wi := WorstImage{Name: name, MIoU: miou,
			Image:       filepath.Join("worst img", fmt.Sprintf("%d.png", i)),
			GroundTruth: filepath.Join("worst img", fmt.Sprintf("%d_gt.png", i)),
			Prediction:  filepath.Join("worst img", fmt.Sprintf("%d_pred.png", i))}
		if err := WriteImagePNG(filepath.Join(dir, wi.Image), rgb, h, w); err != nil {
			t.Fatal(err)
		}
		if err := WriteMaskPNG(filepath.Join(dir, wi.GroundTruth), gt, w, h, pal); err != nil {
			t.Fatal(err)
		}
		if err := WriteMaskPNG(filepath.Join(dir, wi.Prediction), pred, w, h, pal); err != nil {
			t.Fatal(err)
		}
		worst = append(worst, wi)
	}
	if err := WriteHTMLReportWith(dir, res, worst, HTMLOptions{Palette: pal}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, HTMLReportFile))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	doc := parseHTML(t, b)

	// Self-contained: every link is a relative path to a file that exists,
	// and nothing needs scripts or the network.
	if len(doc.links) < 2+2*3 {
		t.Errorf("only %d links: %q", len(doc.links), doc.links)
	}
	for _, l := range doc.links {
		u, err := url.Parse(l)
		if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(l, "/") {
			t.Errorf("link %q is not relative", l)
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(u.Path))); err != nil || !st.Mode().IsRegular() {
			t.Errorf("link %q: %v", l, err)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://", "<link", "@import", "url("} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	checkPNG(t, filepath.Join(dir, HTMLConfusionFile), 400, 400)
	checkPNG(t, filepath.Join(dir, HTMLIoUFile), 400, 300)

	// The numbers shown are those of the report.
	sum := doc.tables["summary"]
	if len(sum) != 2 {
		t.Fatalf("summary table has %d rows: %q", len(sum), sum)
	}
	for _, v := range []struct {
		name string
		want float64
	}{{"aAcc", rep.AAcc}, {"mIoU", rep.MIoU}, {"mAcc", rep.MAcc}, {"mDice", rep.MDice}, {"fwIoU", rep.FWIoU}} {
		checkPercent(t, "summary "+v.name, column(t, sum, v.name)[0], v.want, "n/a")
	}
	if got := column(t, sum, "images")[0]; got != strconv.Itoa(res.Images) {
		t.Errorf("images %q, want %d", got, res.Images)
	}
	if got := column(t, sum, "labelled pixels")[0]; got != strconv.FormatInt(rep.Pixels, 10) {
		t.Errorf("labelled pixels %q, want %d", got, rep.Pixels)
	}
	cls := doc.tables["classes"]
	if len(cls) != 1+len(res.Names) {
		t.Fatalf("class table has %d rows for %d classes", len(cls), len(res.Names))
	}
	names, iou, acc, dice := column(t, cls, "Class"), column(t, cls, "IoU"), column(t, cls, "Acc"), column(t, cls, "Dice")
	share, label, pred := column(t, cls, "Pixel share"), column(t, cls, "Labelled pixels"), column(t, cls, "Predicted pixels")
	for i, c := range rep.Classes {
		if names[i] != res.Names[i] {
			t.Errorf("class %d is %q, want %q", i, names[i], res.Names[i])
		}
		undefined := "n/a"
		if c.Absent {
			undefined = "absent"
		}
		checkPercent(t, c.Name+" IoU", iou[i], c.IoU, undefined)
		checkPercent(t, c.Name+" Acc", acc[i], c.Acc, undefined)
		checkPercent(t, c.Name+" Dice", dice[i], c.Dice, undefined)
		checkPercent(t, c.Name+" pixel share", share[i], float64(c.Label)/float64(rep.Pixels), "n/a")
		if label[i] != strconv.FormatInt(c.Label, 10) || pred[i] != strconv.FormatInt(c.Pred, 10) {
			t.Errorf("%s: %s labelled, %s predicted pixels; want %d, %d", c.Name, label[i], pred[i], c.Label, c.Pred)
		}
	}
	if rep.Classes[16].Absent != true || iou[16] != "absent" || acc[12] != "n/a" {
		t.Errorf("fixture: class 16 %q, class 12 acc %q", iou[16], acc[12])
	}

	// The worst images, lowest mIoU first and undefined last, each with
	// its three pictures.
	want := []string{"frankfurt_000001 & co mIoU 12.00", "frankfurt_000003 & co mIoU 30.00",
		"frankfurt_000000 & co mIoU 41.00", "frankfurt_000002 & co mIoU n/a"}
	if strings.Join(doc.h3, "|") != strings.Join(want, "|") {
		t.Errorf("worst images %q, want %q", doc.h3, want)
	}
	if doc.tags["img"] != 2+3*len(worst) {
		t.Errorf("%d images on the page, want %d", doc.tags["img"], 2+3*len(worst))
	}
	for _, p := range []string{"Partial result", "0/4, 2/4, 3/4", "m.onnx", "city/val", "of a dataset of 50 images", "outside the class range"} {
		if !strings.Contains(page, p) {
			t.Errorf("page lacks %q", p)
		}
	}

	// No temporary files are left behind.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

func TestWriteHTMLReportRefuses(t *testing.T) {
	dir := t.TempDir()
	res := reportFixture()
	if err := os.WriteFile(filepath.Join(dir, "a.png"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "a.png")
	for _, tc := range []struct {
		name  string
		worst WorstImage
	}{
		{"absolute", WorstImage{Name: "x", Image: abs, GroundTruth: "a.png", Prediction: "a.png"}},
		{"outside", WorstImage{Name: "x", Image: "a.png", GroundTruth: "../a.png", Prediction: "a.png"}},
		{"missing", WorstImage{Name: "x", Image: "a.png", GroundTruth: "a.png", Prediction: "b.png"}},
		{"empty", WorstImage{Name: "x", Image: "a.png", GroundTruth: "a.png"}},
		{"folder", WorstImage{Name: "x", Image: ".", GroundTruth: "a.png", Prediction: "a.png"}},
	} {
		err := WriteHTMLReport(dir, res, []WorstImage{tc.worst})
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if _, serr := os.Stat(filepath.Join(dir, HTMLReportFile)); serr == nil {
			t.Fatalf("%s: wrote %s anyway", tc.name, HTMLReportFile)
		}
	}
	bad := reportFixture()
	bad.Images = -1
	if err := WriteHTMLReport(dir, bad, nil); err == nil {
		t.Error("invalid result reported")
	}
	if err := WriteHTMLReport(dir, nil, nil); err == nil {
		t.Error("nil result reported")
	}
	// Without worst images the page still has its tables and plots.
	if err := WriteHTMLReport(dir, res, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, HTMLReportFile))
	if err != nil {
		t.Fatal(err)
	}
	doc := parseHTML(t, b)
	if len(doc.tables["classes"]) != 1+len(res.Names) || doc.tags["img"] != 2 || len(doc.h3) != 0 {
		t.Errorf("page without worst images: %d class rows, %d images, %d headings", len(doc.tables["classes"]), doc.tags["img"], len(doc.h3))
	}
}

func TestMask(t *testing.T) {
	pal := [][3]uint8{{10, 20, 30}, {200, 100, 0}}
	img, err := MaskImage([]int32{0, 1, 255, -1, 1, 0}, 3, 2, pal)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][3]uint8{{10, 20, 30}, {200, 100, 0}, {0, 0, 0}, {0, 0, 0}, {200, 100, 0}, {10, 20, 30}} {
		r, g, b, a := img.At(i%3, i/3).RGBA()
		if got := [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}; got != want || a != 0xffff {
			t.Errorf("pixel %d is %v, want %v", i, got, want)
		}
	}
	if _, err := MaskImage([]int32{0, 1}, 3, 2, pal); err == nil {
		t.Error("2 labels as 3 x 2")
	}
	if _, err := MaskImage([]int32{0}, 1, 1, nil); err == nil {
		t.Error("empty palette")
	}
	p := Palette(40)
	seen := map[[3]uint8]bool{}
	for _, c := range p {
		seen[c] = true
	}
	if len(seen) != 40 {
		t.Errorf("Palette(40) has %d distinct colours", len(seen))
	}
	if err := WriteImagePNG(filepath.Join(t.TempDir(), "x.png"), make([]float32, 5), 1, 2); err == nil {
		t.Error("5 values as a 1 x 2 image")
	}
}

func TestImageMIoU(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gt, pred []int32
		want     float64
	}{
		// class 0: TP 2, FN 1, FP 0 -> 2/3; class 1: TP 1, FP 1 -> 1/2; class 2 absent.
		{"two classes", []int32{0, 0, 0, 1, 255}, []int32{0, 0, 1, 1, 2}, (2.0/3 + 0.5) / 2},
		{"perfect", []int32{2, 2, 1}, []int32{2, 2, 1}, 1},
		{"all ignored", []int32{255, 255}, []int32{0, 1}, nan},
		// class 1 predicted only: IoU 0 counts.
		{"predicted only", []int32{0, 0}, []int32{0, 1}, (0.5 + 0) / 2},
	} {
		if got := ImageMIoU(tc.gt, tc.pred, 3, 255); !near(got, tc.want) {
			t.Errorf("%s: mIoU %v, want %v", tc.name, got, tc.want)
		}
	}
}
