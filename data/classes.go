package data

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// parseClasses reads one class name per line of the file source; blank
// lines and lines starting with '#' are skipped, surrounding spaces and a
// leading UTF-8 byte order mark are removed. A name listed twice is an
// error naming both lines.
func parseClasses(s, source string) ([]string, error) {
	s = strings.TrimPrefix(s, "\ufeff")
	var names []string
	line := map[string]int{}
	for i, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if prev, dup := line[l]; dup {
			return nil, fmt.Errorf("data: %s lists %s twice, at lines %d and %d; class names must be unique",
				source, l, prev, i+1)
		}
		line[l] = i + 1
		names = append(names, l)
	}
	return names, nil
}

// classNames resolves the class names from options, a file-provided list and
// a format default count.
func classNames(o Options, fromFile []string, source string) ([]string, error) {
	names := fromFile
	if len(o.ClassNames) > 0 {
		names = o.ClassNames
		source = "the given class names"
	}
	switch {
	case names != nil && o.NumClasses > 0 && len(names) != o.NumClasses:
		return nil, fmt.Errorf("data: %s lists %d classes but %d were asked for", source, len(names), o.NumClasses)
	case names != nil:
		return append([]string(nil), names...), nil
	case o.NumClasses > 0:
		names = make([]string, o.NumClasses)
		for i := range names {
			names[i] = fmt.Sprintf("class%d", i)
		}
		return names, nil
	}
	return nil, errors.New("data: " + source + " is missing and the number of classes is not given")
}

// CheckSameClasses reports whether the class lists a and b, named aName and
// bName in the error (for example "val/classes.txt" and the training run's
// classes), give every class id the same name: it returns nil when they are
// equal, and otherwise an error describing the first difference, such as
// "data: val/classes.txt lists road at 2 but train/classes.txt at 0; the
// same class ids must mean the same classes". Training and evaluation call
// it before comparing predictions with labels of another dataset.
func CheckSameClasses(a, b []string, aName, bName string) error {
	const why = "the same class ids must mean the same classes"
	if len(a) != len(b) {
		return fmt.Errorf("data: %s lists %d classes but %s lists %d; %s", aName, len(a), bName, len(b), why)
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if j := slices.Index(b, a[i]); j >= 0 {
			return fmt.Errorf("data: %s lists %s at %d but %s at %d; %s", aName, a[i], i, bName, j, why)
		}
		return fmt.Errorf("data: %s lists %s at %d, which %s does not list (it has %s there); %s",
			aName, a[i], i, bName, b[i], why)
	}
	return nil
}

// CheckNamedClasses is CheckSameClasses for lists of one length that share at least one name:
// lists that share none (one of them generated, "class3" and the like) or differ in length are
// not compared, since their names say nothing about the ids.
func CheckNamedClasses(a, b []string, aName, bName string) error {
	if len(a) != len(b) {
		return nil
	}
	for _, x := range a {
		if slices.Contains(b, x) {
			return CheckSameClasses(a, b, aName, bName)
		}
	}
	return nil
}
