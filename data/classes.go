package data

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// parseClasses reads one class name per line; blank lines and lines
// starting with '#' are skipped.
func parseClasses(s string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		names = append(names, l)
	}
	return names
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
