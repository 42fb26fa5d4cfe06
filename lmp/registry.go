package lmp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// A Maker describes a loss for Register: New makes it from Options, and Doc says in one line
// what it computes and which Options fields it reads.
//
// New validates the fields the loss uses and ignores the others. For an invalid value it
// returns an error that names the field, the value and the valid range, such as
// "fraction 2: want a number in (0, 1]"; the New function of the package adds the prefix
// "lmp: loss NAME: " and ErrInput.
type Maker struct {
	Doc string
	New func(Options) (Loss, error)
}

var registry struct {
	sync.RWMutex
	m map[string]Maker
}

// Register makes the loss called name available to New, Names and Doc. The losses of this
// package register themselves when it is initialised: ce, focal, lmp, ohem, topk and wce.
//
// Register panics (a programmer error) when name is empty or has characters other than
// lower-case ASCII letters, digits, '-' and '_', when it is already registered, or when
// m.New is nil. It is safe for concurrent use; other packages call it from init.
func Register(name string, m Maker) {
	if name == "" || strings.TrimLeft(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		panic(fmt.Sprintf("lmp: Register: loss name %q, want lower-case letters, digits, '-' or '_'", name))
	}
	if m.New == nil {
		panic(fmt.Sprintf("lmp: Register: loss %s has no constructor", name))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[name]; dup {
		panic(fmt.Sprintf("lmp: Register: loss %s registered twice", name))
	}
	if registry.m == nil {
		registry.m = make(map[string]Maker)
	}
	registry.m[name] = m
}

// Names returns the names of the registered losses in increasing order.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.m))
	for name := range registry.m {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Doc returns the one-line description of the loss called name, or "" when there is none.
func Doc(name string) string {
	registry.RLock()
	defer registry.RUnlock()
	return registry.m[name].Doc
}

// New returns the registered loss called name (see Names and Options), made from o.
// It returns an error wrapping ErrInput, naming the known losses, for an unknown name, and
// one prefixed "lmp: loss NAME: " and wrapping ErrInput for invalid options. It panics (a
// programmer error in the registered constructor) when the constructor returns neither a
// loss nor an error.
func New(name string, o Options) (Loss, error) {
	registry.RLock()
	m, ok := registry.m[name]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("lmp: unknown loss %q, want one of %s: %w", name, strings.Join(Names(), ", "), ErrInput)
	}
	return makeLoss(name, m, o)
}

// makeLoss calls the constructor of m, the Maker registered as name, for New.
func makeLoss(name string, m Maker, o Options) (Loss, error) {
	l, err := m.New(o)
	switch {
	case err != nil && errors.Is(err, ErrInput):
		return nil, fmt.Errorf("lmp: loss %s: %w", name, err)
	case err != nil:
		return nil, fmt.Errorf("lmp: loss %s: %w: %w", name, err, ErrInput)
	case l == nil:
		panic(fmt.Sprintf("lmp: loss %s: constructor returned neither a loss nor an error", name))
	}
	return l, nil
}
