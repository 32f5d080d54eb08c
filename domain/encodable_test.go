package domain_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/assent-dev/assent/domain"
)

// variants returns data and the JSON documents made from it by leaving out one member, at any
// depth (in objects, and in the first element of arrays), or by setting it to null.
func variants(t *testing.T, data []byte) [][]byte {
	t.Helper()
	fresh := func() any {
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	// paths of every member: keys of objects, 0 for the first element of an array
	var paths [][]any
	var walk func(v any, path []any)
	walk = func(v any, path []any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				p := append(append([]any(nil), path...), k)
				paths = append(paths, p)
				walk(x, p)
			}
		case []any:
			if len(v) > 0 {
				walk(v[0], append(append([]any(nil), path...), 0))
			}
		}
	}
	walk(fresh(), nil)
	out := [][]byte{data, []byte(`{}`)}
	for _, p := range paths {
		for _, drop := range []bool{true, false} {
			doc := fresh()
			parent := doc
			for _, step := range p[:len(p)-1] {
				switch s := step.(type) {
				case string:
					parent = parent.(map[string]any)[s]
				case int:
					parent = parent.([]any)[s]
				}
			}
			obj := parent.(map[string]any)
			if key := p[len(p)-1].(string); drop {
				delete(obj, key)
			} else {
				obj[key] = nil
			}
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// TestDecodeAgreesWithEncodingJSON decodes every registered type's sample, and every variant
// of it with a member left out or null (zero enums among them), with Decode and with
// encoding/json: Decode must return the value encoding/json gives, and refuse exactly the
// documents encoding/json cannot decode or whose value it cannot encode again.
func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	checked, refused := 0, 0
	for _, sample := range samples {
		typ, version, data, err := domain.Encode(sample)
		if err != nil {
			t.Fatal(err)
		}
		goType := reflect.TypeOf(sample)
		for _, doc := range variants(t, data) {
			want := reflect.New(goType)
			stdErr := json.Unmarshal(doc, want.Interface())
			if stdErr == nil {
				_, stdErr = json.Marshal(want.Elem().Interface())
			}
			got, err := domain.Decode(typ, version, doc)
			checked++
			if (err == nil) != (stdErr == nil) {
				t.Fatalf("%s %s: Decode error %v, encoding/json error %v", typ, doc, err, stdErr)
			}
			if err != nil {
				refused++
				continue
			}
			if !reflect.DeepEqual(got, want.Elem().Interface()) {
				t.Fatalf("%s %s: Decode gave\n%#v\nencoding/json\n%#v", typ, doc, got, want.Elem().Interface())
			}
		}
	}
	if refused == 0 {
		t.Fatal("no variant was refused: the zero enums were not exercised")
	}
	t.Logf("%d documents, %d refused by both", checked, refused)
}
