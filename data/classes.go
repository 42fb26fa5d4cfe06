package data

import (
	"errors"
	"fmt"
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
