package lmp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("Names() = %v, want sorted and distinct", names)
	}
	for _, name := range []string{"ce", "focal", "lmp", "ohem", "topk", "wce"} {
		if !slices.Contains(names, name) {
			t.Errorf("Names() = %v lacks the built-in %s", names, name)
		}
	}
	if d := Doc("no such loss"); d != "" {
		t.Errorf("Doc of an unknown loss: %q", d)
	}
}

func TestNewUnknown(t *testing.T) {
	for _, name := range []string{"nope", "", "CE", "lmp "} {
		l, err := New(name, Options{})
		if l != nil || !isInputErr(err, fmt.Sprintf("lmp: unknown loss %q", name), "") {
			t.Errorf("New(%q) = %v, %v; want an unknown-loss error wrapping ErrInput", name, l, err)
			continue
		}
		if want := strings.Join(Names(), ", "); !strings.Contains(err.Error(), want) {
			t.Errorf("New(%q): error %q does not list the known losses %s", name, err, want)
		}
	}
}

// TestRegisterPanics checks the programmer errors of Register; none of them changes the
// registry.
func TestRegisterPanics(t *testing.T) {
	before := Names()
	mk := Maker{Doc: "test", New: func(Options) (Loss, error) { return ceLoss{}, nil }}
	for _, tc := range []struct {
		name, loss string
		m          Maker
	}{
		{"duplicate", "ce", mk},
		{"empty name", "", mk},
		{"upper case", "Ce2", mk},
		{"space", "my loss", mk},
		{"no constructor", "new-loss", Maker{Doc: "test"}},
	} {
		func() {
			defer func() {
				if e := recover(); e == nil || !strings.HasPrefix(fmt.Sprint(e), "lmp: Register: ") {
					t.Errorf("%s: Register(%q) recovered %v, want a panic prefixed lmp: Register:", tc.name, tc.loss, e)
				}
			}()
			Register(tc.loss, tc.m)
		}()
	}
	if !slices.Equal(Names(), before) {
		t.Errorf("failed registrations changed Names() from %v to %v", before, Names())
	}
}

// TestNewConstructorErrors checks the prefix and ErrInput that New adds to the errors of a
// constructor, through the constructor of a built-in and through bare ones (given to
// makeLoss, the second half of New, so that the registry stays as it is).
func TestNewConstructorErrors(t *testing.T) {
	_, err := New("topk", Options{TopK: 2})
	if err == nil || !errors.Is(err, ErrInput) || strings.Count(err.Error(), "lmp: ") != 1 || !strings.HasPrefix(err.Error(), "lmp: loss topk: fraction 2: ") {
		t.Errorf("topk 2: %v", err)
	}
	bare := Maker{Doc: "test", New: func(o Options) (Loss, error) { return nil, fmt.Errorf("gamma %v: want 1", o.Gamma) }}
	_, err = makeLoss("bare", bare, Options{Gamma: 3})
	if err == nil || !errors.Is(err, ErrInput) || err.Error() != "lmp: loss bare: gamma 3: want 1: invalid input" {
		t.Errorf("bare error: %v", err)
	}
	wrapped := Maker{Doc: "test", New: func(Options) (Loss, error) { return nil, fmt.Errorf("gamma: %w", ErrInput) }}
	_, err = makeLoss("wrapped", wrapped, Options{})
	if err == nil || !errors.Is(err, ErrInput) || err.Error() != "lmp: loss wrapped: gamma: invalid input" {
		t.Errorf("error wrapping ErrInput: %v", err)
	}
	defer func() {
		if e := recover(); e == nil || !strings.HasPrefix(fmt.Sprint(e), "lmp: loss nothing: ") {
			t.Errorf("constructor returning nil, nil: recovered %v, want a panic", e)
		}
	}()
	makeLoss("nothing", Maker{Doc: "test", New: func(Options) (Loss, error) { return nil, nil }}, Options{})
}
