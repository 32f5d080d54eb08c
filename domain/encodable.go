package domain

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
)

// encodeCheck reports the error json.Marshal would return for a value of an event type, or
// nil. A decoded event is refused when it cannot be encoded again (Decode), and what can fail
// to encode a value decoded from JSON is a marshaler: a zero enum (a failure reason, a link
// method, an outcome) refuses to encode. So the check calls the marshalers that
// json.Marshal would call, and only those, instead of encoding the whole event: it walks the
// fields as encoding/json does (exported fields, "-" and the omitempty and omitzero rules,
// slices, arrays, maps and pointers). It is built once per registered type (checkerOf) and is
// nil for a type that holds no such marshaler.
type encodeCheck func(v reflect.Value) error

var isZeroerType = reflect.TypeFor[interface{ IsZero() bool }]()

// infallible are marshalers that cannot fail on a value their own unmarshaler produced: a
// time parsed from RFC 3339 has a four-digit year, and a UUID always has a text form.
var infallible = map[reflect.Type]bool{
	reflect.TypeFor[time.Time](): true,
	reflect.TypeFor[uuid.UUID](): true,
}

// checkerOf returns the check of values of t, or nil if none can fail. seen guards against
// recursive types (none of the events is, but a walk must end).
func checkerOf(t reflect.Type, seen map[reflect.Type]bool) encodeCheck {
	if infallible[t] {
		return nil
	}
	// encoding/json calls a value receiver's method on any value, and a pointer receiver's
	// only on an addressable one; a decoded event is handed to json.Marshal by value, so none
	// of its fields is addressable.
	if t.Implements(jsonMarshalerType) {
		return callMarshaler(t, func(v reflect.Value) error {
			_, err := v.Interface().(json.Marshaler).MarshalJSON()
			return err
		})
	}
	if t.Implements(textMarshalerType) {
		return callMarshaler(t, func(v reflect.Value) error {
			_, err := v.Interface().(encoding.TextMarshaler).MarshalText()
			return err
		})
	}
	if seen[t] {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	switch t.Kind() {
	case reflect.Pointer:
		elem := checkerOf(t.Elem(), seen)
		if elem == nil {
			return nil
		}
		return func(v reflect.Value) error {
			if v.IsNil() {
				return nil
			}
			return elem(v.Elem())
		}
	case reflect.Interface:
		// The dynamic value decides: encode it as json.Marshal would.
		return func(v reflect.Value) error {
			if v.IsNil() {
				return nil
			}
			_, err := json.Marshal(v.Interface())
			return err
		}
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !t.Elem().Implements(jsonMarshalerType) && !t.Elem().Implements(textMarshalerType) {
			return nil // base64
		}
		elem := checkerOf(t.Elem(), seen)
		if elem == nil {
			return nil
		}
		return func(v reflect.Value) error {
			for i := range v.Len() {
				if err := elem(v.Index(i)); err != nil {
					return err
				}
			}
			return nil
		}
	case reflect.Map:
		var key encodeCheck
		if t.Key().Kind() != reflect.String && t.Key().Implements(textMarshalerType) && !infallible[t.Key()] {
			key = func(v reflect.Value) error {
				_, err := v.Interface().(encoding.TextMarshaler).MarshalText()
				return err
			}
		}
		elem := checkerOf(t.Elem(), seen)
		if key == nil && elem == nil {
			return nil
		}
		return func(v reflect.Value) error {
			for it := v.MapRange(); it.Next(); {
				if key != nil {
					if err := key(it.Key()); err != nil {
						return err
					}
				}
				if elem != nil {
					if err := elem(it.Value()); err != nil {
						return err
					}
				}
			}
			return nil
		}
	case reflect.Struct:
		type fieldCheck struct {
			index               int
			omitEmpty, omitZero bool
			check               encodeCheck
		}
		var fields []fieldCheck
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			c := checkerOf(f.Type, seen)
			if c == nil {
				continue
			}
			_, opts, _ := strings.Cut(tag, ",")
			fc := fieldCheck{index: i, check: c}
			for _, o := range strings.Split(opts, ",") {
				fc.omitEmpty = fc.omitEmpty || o == "omitempty"
				fc.omitZero = fc.omitZero || o == "omitzero"
			}
			fields = append(fields, fc)
		}
		if len(fields) == 0 {
			return nil
		}
		return func(v reflect.Value) error {
			for _, f := range fields {
				fv := v.Field(f.index)
				if (f.omitEmpty && isEmpty(fv)) || (f.omitZero && isZero(fv)) {
					continue
				}
				if err := f.check(fv); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return nil
}

// callMarshaler is the check of a marshaler type: json.Marshal writes null for a nil pointer
// or interface without calling it.
func callMarshaler(t reflect.Type, call func(reflect.Value) error) encodeCheck {
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
		return func(v reflect.Value) error {
			if v.IsNil() {
				return nil
			}
			return call(v)
		}
	}
	return call
}

// isEmpty is encoding/json's omitempty rule.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZero is encoding/json's omitzero rule: an IsZero method if the type has one (on the value
// or its pointer), else the zero value.
func isZero(v reflect.Value) bool {
	t := v.Type()
	switch {
	case t.Implements(isZeroerType):
		if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
			return true
		}
		return v.Interface().(interface{ IsZero() bool }).IsZero()
	case reflect.PointerTo(t).Implements(isZeroerType):
		if !v.CanAddr() {
			boxed := reflect.New(t).Elem()
			boxed.Set(v)
			v = boxed
		}
		return v.Addr().Interface().(interface{ IsZero() bool }).IsZero()
	}
	return v.IsZero()
}
