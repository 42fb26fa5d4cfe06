package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/lmpseg/lmpseg/train"
)

// progress shows long work: a progress bar with rate, ETA and the latest loss on a terminal, and
// plain log lines (about every 5% and at least every 30 s) otherwise.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	bar     *progressbar.ProgressBar
	total   int
	start   int
	t0      time.Time
	lastLog time.Time
	lastPct int
	quiet   bool
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newProgress(w io.Writer, total, start int, quiet bool) *progress {
	p := &progress{w: w, total: total, start: start, t0: time.Now(), quiet: quiet, lastPct: -1}
	if !quiet && isTerminal(w) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("it"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowDescriptionAtLineEnd(),
		)
		p.bar.Set(start)
	}
	return p
}

// Step records that iteration it (1-based count done) finished with loss and lr.
func (p *progress) Step(done int, loss, lr float64) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Eval counts images and passes no loss or learning rate: show none.
	stats := ""
	if lr != 0 || loss != 0 {
		stats = fmt.Sprintf(" loss %.4f lr %.2e", loss, lr)
	}
	if p.bar != nil {
		p.bar.Describe(strings.TrimSpace(stats))
		p.bar.Set(done)
		return
	}
	pct := 100 * done / max(p.total, 1)
	now := time.Now()
	if pct/5 == p.lastPct/5 && now.Sub(p.lastLog) < 30*time.Second && done != p.total {
		return
	}
	p.lastPct, p.lastLog = pct, now
	el := now.Sub(p.t0)
	rate := float64(done-p.start) / el.Seconds()
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-done)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "iter %d/%d (%d%%)%s %.2f it/s eta %s\n", done, p.total, pct, stats, rate, eta)
}

// Note prints a line without breaking the bar.
func (p *progress) Note(format string, args ...any) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// Finish ends the bar.
func (p *progress) Finish() {
	if p.bar != nil {
		p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}

// trainProgress shows a training job's progress (train.Progress).
type trainProgress struct {
	w     io.Writer
	quiet bool
	p     *progress
}

func (t *trainProgress) Start(total, start int) { t.p = newProgress(t.w, total, start, t.quiet) }
func (t *trainProgress) Step(done int, st train.StepStats) {
	t.p.Step(done, st.Loss, st.LR)
}
func (t *trainProgress) Note(format string, args ...any) {
	if t.p == nil {
		t.p = newProgress(t.w, 0, 0, t.quiet)
	}
	t.p.Note(format, args...)
}
func (t *trainProgress) Finish() {
	if t.p != nil {
		t.p.Finish()
	}
}
