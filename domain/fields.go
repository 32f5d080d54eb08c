package domain

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// The struct tag `assent:"..."` says what an event field holds, for the layers that must treat
// it apart: a comma-separated list of
//
//   - personal: data about a person (an email, an IP address, a user agent, a name they gave):
//     sealed under the key of the field's owner before the event is stored (package personal),
//     and unreadable once that key is destroyed (erasure);
//   - secret: a secret or what guards one (a password hash, a sealed TOTP secret, code hashes):
//     never shown to auditors (audit redaction);
//   - owner: the ID (a UUID) whose key seals the event's personal fields: the account, or the
//     device for a device's own stream. An event type with a personal field has exactly one.
//
// A tagged field may sit in a nested struct (a challenge's login context), not in a list.
const tagName = "assent"

// Field is a tagged field of an event type.
type Field struct {
	// Path is the field's JSON name, and its parents' names for a nested field.
	Path     []string
	Personal bool
	Secret   bool
	Owner    bool
}

// Name returns the field's JSON path joined with dots ("context.ip").
func (f Field) Name() string { return strings.Join(f.Path, ".") }

var (
	timeType          = reflect.TypeFor[time.Time]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// taggedFields returns the tagged fields of an event's Go type. It panics on a tag it does not
// know, a tagged field inside a list, and a personal field without exactly one owner: each is
// a programming error caught when the type is registered.
func taggedFields(t reflect.Type) []Field {
	var out []Field
	walkFields(t, nil, false, &out)
	personal, owners := 0, 0
	for _, f := range out {
		if f.Personal {
			personal++
		}
		if f.Owner {
			owners++
		}
	}
	if personal > 0 && owners != 1 {
		panic(fmt.Sprintf("domain: %s has personal fields and %d owner fields; it needs exactly one", t, owners))
	}
	return out
}

func walkFields(t reflect.Type, parent []string, inList bool, out *[]Field) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		path := append(append([]string(nil), parent...), name)
		if tag, ok := sf.Tag.Lookup(tagName); ok {
			f := Field{Path: path}
			for _, kind := range strings.Split(tag, ",") {
				switch kind {
				case "personal":
					f.Personal = true
				case "secret":
					f.Secret = true
				case "owner":
					f.Owner = true
				default:
					panic(fmt.Sprintf("domain: field %s of %s has an unknown %s tag %q", sf.Name, t, tagName, kind))
				}
			}
			if inList {
				panic(fmt.Sprintf("domain: field %s of %s is tagged inside a list, which sealing does not reach", sf.Name, t))
			}
			if f.Owner && len(path) != 1 {
				panic(fmt.Sprintf("domain: owner field %s of %s must be at the top level", sf.Name, t))
			}
			*out = append(*out, f)
			continue
		}
		ft := sf.Type
		if opaque(ft) {
			continue
		}
		switch ft.Kind() {
		case reflect.Struct, reflect.Pointer:
			walkFields(ft, path, inList, out)
		case reflect.Slice, reflect.Array, reflect.Map:
			walkFields(ft.Elem(), path, true, out)
		}
	}
}

// opaque reports whether a type encodes itself: its fields are not the JSON's.
func opaque(t reflect.Type) bool {
	return t == timeType || t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) ||
		reflect.PointerTo(t).Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)
}

// Fields returns the tagged fields of the registered type typ (see the assent tag above), or
// nil for a type that has none or is not registered. The slice must not be changed.
func (r *Registry) Fields(typ string) []Field {
	if s, ok := r.specs[typ]; ok {
		return s.fields
	}
	return nil
}

// SecretNames returns the JSON names of every field tagged secret in any registered type.
func (r *Registry) SecretNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range r.specs {
		for _, f := range s.fields {
			if n := f.Path[len(f.Path)-1]; f.Secret && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}
