package metrics

import (
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// table renders rows as an aligned text table with +---+ borders and cells
// centred, the first row being the header.
func table(w io.Writer, rows [][]string) error {
	if len(rows) == 0 {
		return nil
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	rule := func() {
		b.WriteByte('+')
		for _, n := range width {
			b.WriteString(strings.Repeat("-", n+2))
			b.WriteByte('+')
		}
		b.WriteByte('\n')
	}
	line := func(r []string) {
		b.WriteByte('|')
		for i, c := range r {
			pad := width[i] - utf8.RuneCountInString(c)
			l := pad / 2
			b.WriteString(strings.Repeat(" ", l+1) + c + strings.Repeat(" ", pad-l+1) + "|")
		}
		b.WriteByte('\n')
	}
	rule()
	line(rows[0])
	rule()
	for _, r := range rows[1:] {
		line(r)
	}
	rule()
	_, err := io.WriteString(w, b.String())
	return err
}

// pct formats a fraction as a percentage with two decimals.
func pct(v float64, undefined string) string {
	if math.IsNaN(v) {
		return undefined
	}
	return fmt.Sprintf("%.2f", 100*v)
}

// Print writes r as two tables like mmsegmentation's: per-class IoU, Acc and
// Dice, then aAcc, mIoU, mAcc, mDice and fwIoU, all in percent, followed by
// notes on absent classes and on pixels that could not be counted.
func (r Report) Print(w io.Writer) error {
	rows := [][]string{{"Class", "IoU", "Acc", "Dice"}}
	for _, c := range r.Classes {
		if c.Absent {
			rows = append(rows, []string{c.Name, "absent", "absent", "absent"})
			continue
		}
		rows = append(rows, []string{c.Name, pct(c.IoU, "n/a"), pct(c.Acc, "n/a"), pct(c.Dice, "n/a")})
	}
	if _, err := fmt.Fprintln(w, "per class results:"); err != nil {
		return err
	}
	if err := table(w, rows); err != nil {
		return err
	}
	fmt.Fprintln(w, "Summary:")
	if err := table(w, [][]string{
		{"aAcc", "mIoU", "mAcc", "mDice", "fwIoU"},
		{pct(r.AAcc, "n/a"), pct(r.MIoU, "n/a"), pct(r.MAcc, "n/a"), pct(r.MDice, "n/a"), pct(r.FWIoU, "n/a")},
	}); err != nil {
		return err
	}
	notes := r.notes()
	fmt.Fprintf(w, "%d labelled pixels; percentages.\n", r.Pixels)
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, "Note: "+n); err != nil {
			return err
		}
	}
	return nil
}

// notes returns the remarks printed under the tables: absent and
// predicted-only classes, and pixels that could not be counted.
func (r Report) notes() []string {
	predOnly := 0
	for _, c := range r.Classes {
		if !c.Absent && c.Label == 0 {
			predOnly++
		}
	}
	var notes []string
	if r.Absent > 0 {
		notes = append(notes, fmt.Sprintf("absent: %d of %d classes occur neither in the labels nor in the predictions; "+
			"they are left out of mIoU, mAcc and mDice (%d classes averaged).", r.Absent, len(r.Classes), len(r.Classes)-r.Absent))
	}
	if predOnly > 0 {
		what := fmt.Sprintf("%d classes are", predOnly)
		if predOnly == 1 {
			what = "1 class is"
		}
		notes = append(notes, fmt.Sprintf("n/a: %s predicted but never labelled; their accuracy is undefined "+
			"and left out of mAcc, their IoU and Dice are 0 and count in the means.", what))
	}
	if r.OutOfRange > 0 {
		notes = append(notes, fmt.Sprintf("%d labelled pixels were predicted outside the class range; they count as errors.", r.OutOfRange))
	}
	if r.BadLabels > 0 {
		notes = append(notes, fmt.Sprintf("%d pixels had a label that is neither a class nor ignore; they were skipped.", r.BadLabels))
	}
	return notes
}
