package esdb

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

func TestExpectedRevision(t *testing.T) {
	t.Parallel()
	cases := []struct {
		given eventstore.ExpectedVersion
		want  esdbclient.ExpectedRevision
	}{
		{eventstore.Any(), esdbclient.Any{}},
		{eventstore.NoStream(), esdbclient.NoStream{}},
		{eventstore.StreamExists(), esdbclient.StreamExists{}},
		{eventstore.Exact(0), esdbclient.Revision(0)},
		{eventstore.Exact(41), esdbclient.Revision(41)},
	}
	for _, c := range cases {
		if got := expectedRevision(c.given); got != c.want {
			t.Errorf("expectedRevision(%s) = %#v, want %#v", c.given, got, c.want)
		}
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	t.Parallel()
	ev := eventstore.EventData{
		Type: "account.registered", SchemaVersion: 3, Data: []byte(`{}`),
		Metadata: eventstore.Metadata{CorrelationID: "corr", CausationID: "cause", Actor: "admin:alice"},
	}
	b, err := encodeMetadata(ev)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"correlation_id":"corr","causation_id":"cause","actor":"admin:alice","schema_version":3}`; string(b) != want {
		t.Fatalf("metadata JSON = %s, want %s", b, want)
	}
	md, sv, err := decodeMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	if sv != 3 || md != ev.Metadata {
		t.Fatalf("decoded %+v v%d, want %+v v3", md, sv, ev.Metadata)
	}
}

func TestDecodeMetadata(t *testing.T) {
	t.Parallel()
	cases := []struct {
		given     string
		wantSV    int
		wantActor string
		wantErr   bool
	}{
		{given: "", wantSV: 1},
		{given: `{}`, wantSV: 1},
		{given: `{"schema_version":0}`, wantSV: 1},
		{given: `{"schema_version":2,"actor":"x","$correlationId":"other tool"}`, wantSV: 2, wantActor: "x"},
		{given: `not json`, wantErr: true},
		{given: `[1]`, wantErr: true},
	}
	for _, c := range cases {
		md, sv, err := decodeMetadata([]byte(c.given))
		if (err != nil) != c.wantErr {
			t.Errorf("decodeMetadata(%q) error = %v, want error %v", c.given, err, c.wantErr)
			continue
		}
		if !c.wantErr && (sv != c.wantSV || md.Actor != c.wantActor) {
			t.Errorf("decodeMetadata(%q) = %+v v%d, want actor %q v%d", c.given, md, sv, c.wantActor, c.wantSV)
		}
	}
}

func TestToProposed(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	p, err := toProposed(eventstore.EventData{ID: id, Type: "device.linked", SchemaVersion: 1, Data: []byte(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if p.EventID != id || p.EventType != "device.linked" || p.ContentType != esdbclient.ContentTypeJson || string(p.Data) != `{"a":1}` {
		t.Fatalf("proposed event = %+v", p)
	}
	if string(p.Metadata) != `{"schema_version":1}` {
		t.Fatalf("metadata = %s", p.Metadata)
	}
}

func TestFromRecorded(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	created := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	re := &esdbclient.RecordedEvent{
		EventID: id, EventType: "challenge.approved", StreamID: "challenge-1", EventNumber: 4,
		Position: esdbclient.Position{Commit: 9000, Prepare: 9000}, CreatedDate: created,
		Data: []byte(`{"n":1}`), UserMetadata: []byte(`{"actor":"device:7","schema_version":2}`),
	}
	ev, err := fromRecorded(re)
	if err != nil {
		t.Fatal(err)
	}
	want := eventstore.RecordedEvent{
		ID: id, Stream: "challenge-1", Type: "challenge.approved", SchemaVersion: 2, Data: []byte(`{"n":1}`),
		Metadata: eventstore.Metadata{Actor: "device:7", RecordedAt: created}, Version: 4, Position: 9000,
	}
	if fmt.Sprint(ev) != fmt.Sprint(want) {
		t.Fatalf("fromRecorded = %+v\nwant %+v", ev, want)
	}
	re.UserMetadata = []byte("garbage")
	if _, err := fromRecorded(re); err == nil || !strings.Contains(err.Error(), id.String()) {
		t.Fatalf("bad metadata: error %v, want one naming the event", err)
	}
}

func TestPositionOf(t *testing.T) {
	t.Parallel()
	const unknown = math.MaxUint64
	cases := []struct {
		given esdbclient.Position
		want  eventstore.Position
	}{
		{esdbclient.Position{Commit: 500, Prepare: 500}, 500},
		{esdbclient.Position{Commit: 700, Prepare: 650}, 700}, // an explicit transaction: its commit
		{esdbclient.Position{Commit: unknown, Prepare: 800}, 800},
		{esdbclient.Position{Commit: unknown, Prepare: unknown}, 0},
	}
	for _, c := range cases {
		if got := positionOf(c.given); got != c.want {
			t.Errorf("positionOf(%+v) = %d, want %d", c.given, got, c.want)
		}
	}
}

func TestAllPosition(t *testing.T) {
	t.Parallel()
	if got := allPosition(eventstore.Start); got != (esdbclient.Start{}) {
		t.Errorf("allPosition(Start) = %#v, want Start", got)
	}
	if got := allPosition(1234); got != (esdbclient.Position{Commit: 1234, Prepare: 1234}) {
		t.Errorf("allPosition(1234) = %#v, want {1234 1234}", got)
	}
}

func TestHidden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		stream, typ string
		want        bool
	}{
		{"account-1", "account.registered", false},
		{"account-1", "$metadata", true},
		{"$$account-1", "$metadata", true},
		{"$stats-127.0.0.1:2113", "$statsCollected", true},
		{"$ce-account", "$>", true},
		{"$projections-x", "state.changed", true},
		{"assent-checkpoint-projections", "$assent.checkpoint", true},
		{"assent-checkpointless", "x.y", false},
	}
	for _, c := range cases {
		if got := hidden(c.stream, c.typ); got != c.want {
			t.Errorf("hidden(%q, %q) = %v, want %v", c.stream, c.typ, got, c.want)
		}
	}
}

// wrongExpectedVersionMessage is the text the v4.2.0 client wraps in its
// ErrorCodeWrongExpectedVersion error (esdb/client.go, AppendToStream).
const wrongExpectedVersionMessage = "wrong expected version: expecting '%s' but got '%s'"

func TestParseCurrentRevision(t *testing.T) {
	t.Parallel()
	cases := []struct {
		given   string
		want    int64
		wantErr bool
	}{
		{fmt.Sprintf(wrongExpectedVersionMessage, "0", "no_stream"), -1, false},
		{fmt.Sprintf(wrongExpectedVersionMessage, "no_stream", "0"), 0, false},
		{fmt.Sprintf(wrongExpectedVersionMessage, "stream_exists", "no_stream"), -1, false},
		{fmt.Sprintf(wrongExpectedVersionMessage, "2", "3"), 3, false},
		{fmt.Sprintf(wrongExpectedVersionMessage, "any", "123456789012"), 123456789012, false},
		{"wrong expected version", 0, true},
		{"... but got 'seven'", 0, true},
		{"... but got '-2'", 0, true},
		{"... but got '4", 0, true},
	}
	for _, c := range cases {
		got, err := parseCurrentRevision(c.given)
		if (err != nil) != c.wantErr || (!c.wantErr && got != c.want) {
			t.Errorf("parseCurrentRevision(%q) = %d, %v; want %d, error %v", c.given, got, err, c.want, c.wantErr)
		}
	}
}

func TestActualRevisionIgnoresOtherErrors(t *testing.T) {
	t.Parallel()
	// The client's Error cannot be built outside its package with another code than Unknown;
	// the wrong-expected-version path is tested through the client in behaviour_test.go.
	plain := errors.New("wrong expected version: expecting '1' but got '2'")
	unknown, _ := esdbclient.FromError(plain)
	for _, err := range []error{plain, unknown, fmt.Errorf("wrapped: %w", unknown)} {
		if _, got := actualRevision(err); !errors.Is(got, errNotWrongExpectedVersion) {
			t.Errorf("actualRevision(%v) error = %v, want errNotWrongExpectedVersion", err, got)
		}
	}
}

func TestDecodeCheckpoint(t *testing.T) {
	t.Parallel()
	if p, err := decodeCheckpoint([]byte(`{"position":77}`)); err != nil || p != 77 {
		t.Fatalf("decodeCheckpoint = %d, %v; want 77", p, err)
	}
	if _, err := decodeCheckpoint([]byte(`77`)); err == nil {
		t.Fatal("decodeCheckpoint accepted a body that is not a checkpoint")
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	conn := "esdb://admin:s3cret@host:2113?tls=false"
	err := redacted(fmt.Errorf("parse %s: bad", conn), conn)
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the password survived: %v", err)
	}
}
