package infer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ClassMap maps the classes a model predicts to the class indices of the dataset it is evaluated
// on. It is applied to each prediction before the confusion matrix: a pixel predicted as model
// class j counts as dataset class To[j]. A model class mapped to -1 (dropped), or one beyond To,
// is "no class": such a pixel is wrong for whatever label it has (metrics.Confusion counts it in
// OutOfRange of its true class, a false negative of that class and a false positive of none),
// and ignored where its label is ignored. Dataset classes that no model class maps to can only
// be missed. Dataset labels in IgnoreLabels are evaluated as the ignore label.
type ClassMap struct {
	To           []int32 // To[j]: the dataset class of model class j, -1 when dropped
	IgnoreLabels []int32 // dataset labels evaluated as ignore
	Spec         string  // what the map was made from: a file name, reduce-zero-label or by-name
	ModelNames   []string
	DataNames    []string
}

// Class-map shorthands for ParseClassMap.
const (
	// ClassMapReduceZeroLabel is mmsegmentation's reduce_zero_label convention (ADE20K): the
	// dataset's raw label 0 ("other") is ignored and raw label k is the model's class k-1, so
	// model class j is dataset class j+1 and the dataset has one class more than the model. A
	// dataset opened with the ade20k format already has this applied (150 classes): use no map.
	ClassMapReduceZeroLabel = "reduce-zero-label"
	// ClassMapByName maps each model class to the dataset class of the same name (compared
	// without case, with spaces, '-' and '_' alike), dropping model classes the dataset lacks.
	ClassMapByName = "by-name"
)

// ParseClassMap makes the map that spec names: ClassMapReduceZeroLabel, ClassMapByName, or a
// file. A file is JSON, an object {"model id": dataset id, ...} or an array whose element j is
// model class j's dataset id, or text with one "model_id dataset_id" pair a line ('#' starts a
// comment); a dataset id of -1 or "ignore" drops the model class, and model classes the file
// does not list are dropped too. modelNames are the model's class names (nil when it has none),
// modelK its class count (0 when unknown), dataNames the dataset's classes.
func ParseClassMap(spec string, modelNames []string, modelK int, dataNames []string) (*ClassMap, error) {
	if modelK == 0 {
		modelK = len(modelNames)
	}
	dk := len(dataNames)
	cm := &ClassMap{Spec: spec, ModelNames: modelNames, DataNames: dataNames}
	switch spec {
	case "":
		return nil, nil
	case ClassMapReduceZeroLabel:
		if modelK == 0 {
			modelK = dk - 1
		}
		if modelK != dk-1 || modelK < 1 {
			hint := ""
			if modelK == dk {
				hint = " (a dataset opened as --format ade20k is reduced already: evaluate without --class-map)"
			}
			return nil, fmt.Errorf("infer: --class-map %s maps model class j to dataset label j+1, for a dataset with one class more than the model (raw label 0 ignored); the model has %d classes, the dataset %d%s", spec, modelK, dk, hint)
		}
		cm.To = make([]int32, modelK)
		for j := range cm.To {
			cm.To[j] = int32(j + 1)
		}
		cm.IgnoreLabels = []int32{0}
		return cm, nil
	case ClassMapByName:
		if len(modelNames) == 0 {
			return nil, fmt.Errorf("infer: --class-map %s needs the model's class names (lmpseg.classes in its metadata), and the model has none; give a --class-map FILE", spec)
		}
		idx := map[string]int{}
		for i, n := range dataNames {
			if _, dup := idx[normName(n)]; !dup {
				idx[normName(n)] = i
			}
		}
		cm.To = make([]int32, len(modelNames))
		found := 0
		for j, n := range modelNames {
			cm.To[j] = -1
			if i, ok := idx[normName(n)]; ok {
				cm.To[j] = int32(i)
				found++
			}
		}
		if found == 0 {
			return nil, fmt.Errorf("infer: --class-map %s: no model class (%s) has a name of the dataset's (%s)", spec, listNames(modelNames, 6), listNames(dataNames, 6))
		}
		return cm, nil
	}
	b, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("infer: --class-map: %w (give a file, %s or %s)", err, ClassMapReduceZeroLabel, ClassMapByName)
	}
	pairs, err := parseClassMapFile(b)
	if err != nil {
		return nil, fmt.Errorf("infer: --class-map %s: %w", spec, err)
	}
	n := modelK
	for m := range pairs {
		if m >= n {
			if modelK > 0 {
				return nil, fmt.Errorf("infer: --class-map %s maps model class %d, but the model has %d classes", spec, m, modelK)
			}
			n = m + 1
		}
	}
	cm.To = make([]int32, n)
	for j := range cm.To {
		cm.To[j] = -1
	}
	for m, d := range pairs {
		if d >= int32(dk) {
			return nil, fmt.Errorf("infer: --class-map %s maps model class %d to %d, but the dataset has %d classes (0 to %d)", spec, m, d, dk, dk-1)
		}
		cm.To[m] = d
	}
	return cm, nil
}

// parseClassMapFile reads the pairs model id -> dataset id (-1: dropped) of a class-map file.
func parseClassMapFile(b []byte) (map[int]int32, error) {
	pairs := map[int]int32{}
	add := func(m int, d int32, where string) error {
		if m < 0 {
			return fmt.Errorf("%s: model class %d is negative", where, m)
		}
		if d < -1 {
			return fmt.Errorf("%s: dataset class %d: want an id, -1 or \"ignore\"", where, d)
		}
		if _, dup := pairs[m]; dup {
			return fmt.Errorf("%s: model class %d is mapped twice", where, m)
		}
		pairs[m] = d
		return nil
	}
	target := func(v any, where string) (int32, error) {
		switch x := v.(type) {
		case float64:
			if x != float64(int32(x)) {
				return 0, fmt.Errorf("%s: dataset class %v is not an integer", where, x)
			}
			return int32(x), nil
		case string:
			if strings.EqualFold(x, "ignore") {
				return -1, nil
			}
		}
		return 0, fmt.Errorf("%s: dataset class %v: want an id, -1 or \"ignore\"", where, v)
	}
	t := bytes.TrimSpace(b)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		var v any
		if err := json.Unmarshal(t, &v); err != nil {
			return nil, fmt.Errorf("JSON: %w", err)
		}
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				m, err := strconv.Atoi(strings.TrimSpace(k))
				if err != nil {
					return nil, fmt.Errorf("key %q: want a model class id", k)
				}
				d, err := target(val, "key "+k)
				if err != nil {
					return nil, err
				}
				if err := add(m, d, "key "+k); err != nil {
					return nil, err
				}
			}
		case []any:
			for m, val := range x {
				where := fmt.Sprintf("element %d", m)
				d, err := target(val, where)
				if err != nil {
					return nil, err
				}
				if err := add(m, d, where); err != nil {
					return nil, err
				}
			}
		}
		if len(pairs) == 0 {
			return nil, fmt.Errorf("the JSON maps no class")
		}
		return pairs, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		s, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(s)
		if len(f) == 0 {
			continue
		}
		where := fmt.Sprintf("line %d", line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s: %q: want \"model_id dataset_id\"", where, strings.TrimSpace(s))
		}
		m, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("%s: model class %q is not an integer", where, f[0])
		}
		var d int32 = -1
		if !strings.EqualFold(f[1], "ignore") {
			v, err := strconv.ParseInt(f[1], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%s: dataset class %q: want an id, -1 or \"ignore\"", where, f[1])
			}
			d = int32(v)
		}
		if err := add(m, d, where); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("the file maps no class")
	}
	return pairs, nil
}

func normName(s string) string {
	return strings.NewReplacer(" ", "", "_", "", "-", "").Replace(strings.ToLower(strings.TrimSpace(s)))
}

func listNames(n []string, k int) string {
	if len(n) <= k {
		return strings.Join(n, ", ")
	}
	return strings.Join(n[:k], ", ") + fmt.Sprintf(", ... (%d in all)", len(n))
}

// Apply maps predictions in place: model class j becomes To[j]; classes beyond To become -1.
func (m *ClassMap) Apply(pred []int32) {
	for i, p := range pred {
		if p >= 0 && int(p) < len(m.To) {
			pred[i] = m.To[p]
		} else {
			pred[i] = -1
		}
	}
}

// ApplyLabels replaces the labels in IgnoreLabels with ignore, in place.
func (m *ClassMap) ApplyLabels(gt []int32, ignore int32) {
	if len(m.IgnoreLabels) == 0 {
		return
	}
	for i, g := range gt {
		if slices.Contains(m.IgnoreLabels, g) {
			gt[i] = ignore
		}
	}
}

func nameOf(names []string, i int) string {
	if i >= 0 && i < len(names) {
		return strconv.Itoa(i) + " " + names[i]
	}
	return strconv.Itoa(i)
}

// Pairs returns the map in the form "model:dataset,..." (-1 for dropped), for reports.
func (m *ClassMap) Pairs() string {
	s := make([]string, len(m.To))
	for j, d := range m.To {
		s[j] = fmt.Sprintf("%d:%d", j, d)
	}
	return strings.Join(s, ",")
}

// Summary says in a line which model classes were mapped, moved or dropped and which dataset
// labels are ignored.
func (m *ClassMap) Summary() string {
	var moved, dropped []string
	mapped := 0
	for j, d := range m.To {
		switch {
		case d < 0:
			dropped = append(dropped, nameOf(m.ModelNames, j))
		default:
			mapped++
			if int(d) != j || (len(m.ModelNames) > j && len(m.DataNames) > int(d) && m.ModelNames[j] != m.DataNames[d]) {
				moved = append(moved, nameOf(m.ModelNames, j)+" → "+nameOf(m.DataNames, int(d)))
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "class map %s: %d of %d model classes mapped", m.Spec, mapped, len(m.To))
	if len(moved) > 0 {
		if len(moved) > 8 {
			fmt.Fprintf(&b, ", %d to other ids (%s, ...)", len(moved), strings.Join(moved[:8], ", "))
		} else {
			fmt.Fprintf(&b, ", to other ids: %s", strings.Join(moved, ", "))
		}
	}
	if len(dropped) > 0 {
		fmt.Fprintf(&b, "; dropped (pixels predicted so count as wrong): %s", strings.Join(dropped, ", "))
	}
	if len(m.IgnoreLabels) > 0 {
		s := make([]string, len(m.IgnoreLabels))
		for i, l := range m.IgnoreLabels {
			s[i] = nameOf(m.DataNames, int(l))
		}
		fmt.Fprintf(&b, "; dataset labels evaluated as ignore: %s", strings.Join(s, ", "))
	}
	var unmapped []string
	for i := range m.DataNames {
		if !slices.Contains(m.To, int32(i)) && !slices.Contains(m.IgnoreLabels, int32(i)) {
			unmapped = append(unmapped, nameOf(m.DataNames, i))
		}
	}
	if len(unmapped) > 0 {
		fmt.Fprintf(&b, "; dataset classes no model class maps to: %s", listNames(unmapped, 8))
	}
	return b.String()
}
