package domain

import (
	"encoding/json"
	"reflect"
	"testing"
)

// zeroable has an IsZero method on its pointer, which omitzero uses.
type zeroable struct{ R FailureReason }

func (z *zeroable) IsZero() bool { return z.R == FailureReason{} }

type shapes struct {
	Plain     FailureReason            `json:"plain"`
	OmitZero  FailureReason            `json:"omit_zero,omitzero"`
	OmitEmpty FailureReason            `json:"omit_empty,omitempty"` // a struct is never empty
	Skipped   FailureReason            `json:"-"`
	Ptr       *FailureReason           `json:"ptr"`
	List      []FailureReason          `json:"list"`
	Keys      map[FailureReason]int    `json:"keys"`
	Values    map[string]FailureReason `json:"values"`
	Nested    struct{ In LinkMethod }  `json:"nested"`
	Zeroable  zeroable                 `json:"zeroable,omitzero"`
	Any       any                      `json:"any"`
	hidden    FailureReason
}

// TestEncodeCheckAgreesWithMarshal sets one field of a value at a time to a zero enum, in
// each shape encoding/json treats apart, and checks that the check fails exactly when
// json.Marshal does.
func TestEncodeCheckAgreesWithMarshal(t *testing.T) {
	ok := FailurePassword
	good := func() shapes {
		s := shapes{Plain: ok, OmitEmpty: ok, Keys: map[FailureReason]int{ok: 1}, Values: map[string]FailureReason{"a": ok},
			List: []FailureReason{ok}, Ptr: &ok, Zeroable: zeroable{ok}}
		s.Nested.In = LinkFromPhone
		return s
	}
	check := checkerOf(reflect.TypeFor[shapes](), map[reflect.Type]bool{})
	cases := map[string]func(*shapes){
		"all set":         func(*shapes) {},
		"plain zero":      func(s *shapes) { s.Plain = FailureReason{} },
		"omitzero zero":   func(s *shapes) { s.OmitZero = FailureReason{} },
		"omitempty zero":  func(s *shapes) { s.OmitEmpty = FailureReason{} },
		"dash zero":       func(s *shapes) { s.Skipped = FailureReason{} },
		"nil pointer":     func(s *shapes) { s.Ptr = nil },
		"pointer to zero": func(s *shapes) { s.Ptr = new(FailureReason) },
		"zero in a list":  func(s *shapes) { s.List = append(s.List, FailureReason{}) },
		"zero map key":    func(s *shapes) { s.Keys[FailureReason{}] = 2 },
		"zero map value":  func(s *shapes) { s.Values["b"] = FailureReason{} },
		"nested zero":     func(s *shapes) { s.Nested.In = LinkMethod{} },
		"IsZero omits":    func(s *shapes) { s.Zeroable = zeroable{} },
		"zero in an any":  func(s *shapes) { s.Any = FailureReason{} },
		"unexported zero": func(s *shapes) { s.hidden = FailureReason{} },
	}
	failing := 0
	for name, edit := range cases {
		s := good()
		edit(&s)
		_, want := json.Marshal(s)
		got := check(reflect.ValueOf(s))
		if (got == nil) != (want == nil) {
			t.Errorf("%s: check says %v, json.Marshal %v", name, got, want)
		}
		if want != nil {
			failing++
		}
	}
	if failing < 6 {
		t.Fatalf("only %d cases fail to marshal: the shapes do not exercise the check", failing)
	}
}
