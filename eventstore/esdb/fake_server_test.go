package esdb

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeServer is an in-memory stand-in for the Streams service of EventStoreDB, written from
// its gRPC contract and from what its source shows of the behaviour the Store relies on. It
// lets the adapter's code (the real v4 client, the mapping, the subscription state) be tested
// where no server runs; it proves nothing about EventStoreDB itself.
//
// What it models: expected revisions and WrongExpectedVersion answers; the server's idempotency
// (IDs stored where the append would have put them give the original result; some of them, a
// wrong expected version); $all as one log with gaps between positions, commit = prepare;
// reads of $all that include the event at their starting position; catch-up subscriptions to
// $all that start after their position, filter event types by regex, send a checkpoint every
// 32 events they filter out and, unless noCaughtUp, a caught-up message; and events of the
// server itself (types and streams starting with '$') mixed into $all.
type fakeServer struct {
	api.UnimplementedStreamsServer
	noCaughtUp bool // as servers before the caught-up message

	mu      sync.Mutex
	log     []fakeRecord
	streams map[string][]int // stream -> indexes in log
	nextPos uint64
	appends int
	wake    chan struct{} // closed and replaced after every write

	grpc *grpc.Server
	addr string
}

type fakeRecord struct {
	id          uuid.UUID
	stream      string
	revision    uint64
	pos         uint64
	typ         string
	contentType string
	data, meta  []byte
	created     int64 // .NET ticks since the Unix epoch
}

// startFake serves a fake on a loopback port until the test ends, and returns it with the
// connection string of a Store.
func startFake(t testing.TB, noCaughtUp bool) (*fakeServer, string) {
	t.Helper()
	f := &fakeServer{noCaughtUp: noCaughtUp, streams: make(map[string][]int), nextPos: 1 << 10, wake: make(chan struct{})}
	f.mu.Lock()
	f.writeSystem("$settings", "$settings")
	f.writeSystem("$$$scavenges", "$metadata")
	f.mu.Unlock()
	f.serve(t, "127.0.0.1:0")
	return f, f.conn()
}

func (f *fakeServer) conn() string {
	return "esdb://" + f.addr + "?tls=false&maxDiscoverAttempts=1&discoveryInterval=10&gossipTimeout=2"
}

func (f *fakeServer) serve(t testing.TB, addr string) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	f.grpc = grpc.NewServer()
	api.RegisterStreamsServer(f.grpc, f)
	go f.grpc.Serve(lis)
	t.Cleanup(f.grpc.Stop)
}

// stop stops serving, keeping the data; serve(t, f.addr) serves it again.
func (f *fakeServer) stop() { f.grpc.Stop() }

// write appends one record to the log; f.mu is held.
func (f *fakeServer) write(stream string, id uuid.UUID, typ, contentType string, data, meta []byte) fakeRecord {
	r := fakeRecord{
		id: id, stream: stream, revision: uint64(len(f.streams[stream])), pos: f.nextPos,
		typ: typ, contentType: contentType, data: data, meta: meta, created: time.Now().UnixNano() / 100,
	}
	f.nextPos += 64 + uint64(len(data)+len(meta)) // positions are byte offsets: gaps
	f.streams[stream] = append(f.streams[stream], len(f.log))
	f.log = append(f.log, r)
	return r
}

func (f *fakeServer) writeSystem(stream, typ string) {
	f.write(stream, uuid.New(), typ, "application/json", []byte(`{}`), nil)
}

func (f *fakeServer) notify() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// Append implements the Streams service.
func (f *fakeServer) Append(srv api.Streams_AppendServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "options first")
	}
	var msgs []*api.AppendReq_ProposedMessage
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msgs = append(msgs, req.GetProposedMessage())
	}
	f.mu.Lock()
	resp := f.append(string(opts.GetStreamIdentifier().GetStreamName()), opts, msgs)
	f.mu.Unlock()
	return srv.SendAndClose(resp)
}

// append decides and writes one append; f.mu is held.
func (f *fakeServer) append(stream string, opts *api.AppendReq_Options, msgs []*api.AppendReq_ProposedMessage) *api.AppendResp {
	idx := f.streams[stream]
	current := int64(len(idx)) - 1
	ids := make([]uuid.UUID, len(msgs))
	for i, m := range msgs {
		ids[i] = fakeUUID(m.GetId())
	}
	// Idempotency: the IDs stored from where this append would have started.
	start := int64(-1)
	switch o := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		start = int64(o.Revision) + 1
	case *api.AppendReq_Options_NoStream:
		start = 0
	default:
		for k, i := range idx {
			if len(ids) > 0 && f.log[i].id == ids[0] {
				start = int64(k)
				break
			}
		}
	}
	if start >= 0 && start <= current {
		matched := 0
		for i, id := range ids {
			k := start + int64(i)
			if k > current || f.log[idx[k]].id != id {
				break
			}
			matched++
		}
		if matched == len(ids) && matched > 0 {
			// The original result; the position is left out, as the adapter must not need it.
			return fakeSuccess(uint64(start)+uint64(matched)-1, nil)
		}
		if matched > 0 {
			return fakeWrongVersion(current)
		}
	}
	var ok bool
	switch o := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		ok = current == int64(o.Revision)
	case *api.AppendReq_Options_NoStream:
		ok = current < 0
	case *api.AppendReq_Options_StreamExists:
		ok = current >= 0
	default:
		ok = true
	}
	if !ok {
		return fakeWrongVersion(current)
	}
	var last fakeRecord
	for i, m := range msgs {
		md := m.GetMetadata()
		last = f.write(stream, ids[i], md["type"], md["content-type"], m.GetData(), m.GetCustomMetadata())
	}
	f.appends++
	if f.appends%5 == 0 {
		// The server's own events, between Assent's: a statistics event, and an event of a
		// system stream whose type does not start with '$'.
		f.writeSystem("$stats-fake", "$statsCollected")
		f.write("$projections-fake", uuid.New(), "fake.state", "application/json", []byte(`{}`), nil)
	}
	f.notify()
	return fakeSuccess(last.revision, &last.pos)
}

func fakeSuccess(revision uint64, pos *uint64) *api.AppendResp {
	s := &api.AppendResp_Success{CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: revision}}
	if pos != nil {
		s.PositionOption = &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: *pos, PreparePosition: *pos}}
	} else {
		s.PositionOption = &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	}
	return &api.AppendResp{Result: &api.AppendResp_Success_{Success: s}}
}

func fakeWrongVersion(current int64) *api.AppendResp {
	w := &api.AppendResp_WrongExpectedVersion{}
	if current < 0 {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
	}
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// Read implements the Streams service: stream reads, $all reads and $all subscriptions.
func (f *fakeServer) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	o := req.GetOptions()
	switch {
	case o.GetSubscription() != nil && o.GetAll() != nil:
		return f.subscribeAll(o, srv)
	case o.GetSubscription() != nil:
		return status.Error(codes.Unimplemented, "fake: stream subscriptions")
	case o.GetStream() != nil:
		return f.readStream(o, srv)
	default:
		return f.readAll(o, srv)
	}
}

func (f *fakeServer) readStream(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	so := o.GetStream()
	f.mu.Lock()
	var recs []fakeRecord
	for _, i := range f.streams[string(so.GetStreamIdentifier().GetStreamName())] {
		recs = append(recs, f.log[i])
	}
	f.mu.Unlock()
	if len(recs) == 0 {
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{StreamIdentifier: so.GetStreamIdentifier()}}})
	}
	n := int64(len(recs))
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	var from int64
	switch r := so.GetRevisionOption().(type) {
	case *api.ReadReq_Options_StreamOptions_Revision:
		from = int64(r.Revision)
	case *api.ReadReq_Options_StreamOptions_End:
		from = n
	}
	count := o.GetCount()
	for i, sent := from, uint64(0); sent < count; sent++ {
		if backwards {
			i = min(i, n-1)
		}
		if i < 0 || i >= n {
			return nil
		}
		if err := srv.Send(fakeEvent(recs[i])); err != nil {
			return err
		}
		if backwards {
			i--
		} else {
			i++
		}
	}
	return nil
}

func (f *fakeServer) readAll(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	ao := o.GetAll()
	count := int(min(o.GetCount(), 1<<20))
	f.mu.Lock()
	// Forwards from the event at the position; backwards from the one before it.
	at := sort.Search(len(f.log), func(i int) bool { return f.log[i].pos >= ao.GetPosition().GetCommitPosition() })
	var out []fakeRecord
	switch {
	case !backwards && ao.GetStart() != nil:
		out = slices.Clone(f.log[:min(count, len(f.log))])
	case !backwards && ao.GetPosition() != nil:
		out = slices.Clone(f.log[at:min(at+count, len(f.log))])
	case backwards && ao.GetEnd() != nil:
		out = slices.Clone(f.log[max(0, len(f.log)-count):])
		slices.Reverse(out)
	case backwards && ao.GetPosition() != nil:
		out = slices.Clone(f.log[max(0, at-count):at])
		slices.Reverse(out)
	}
	f.mu.Unlock()
	for _, r := range out {
		if err := srv.Send(fakeEvent(r)); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeServer) subscribeAll(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	var filter *regexp.Regexp
	if fo := o.GetFilter(); fo != nil {
		re, err := regexp.Compile(fo.GetEventType().GetRegex())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		filter = re
	}
	f.mu.Lock()
	next := 0 // index in log of the next record to look at
	switch ao := o.GetAll(); {
	case ao.GetEnd() != nil:
		next = len(f.log)
	case ao.GetPosition() != nil:
		for next < len(f.log) && f.log[next].pos <= ao.GetPosition().GetCommitPosition() {
			next++ // a subscription starts after its position
		}
	}
	f.mu.Unlock()
	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()}}}); err != nil {
		return err
	}
	caughtUp, skipped := false, 0
	for {
		f.mu.Lock()
		wake := f.wake
		batch := append([]fakeRecord(nil), f.log[next:]...)
		f.mu.Unlock()
		next += len(batch)
		for _, r := range batch {
			if filter != nil && !filter.MatchString(r.typ) {
				if skipped++; skipped%32 == 0 {
					cp := &api.ReadResp_Checkpoint{CommitPosition: r.pos, PreparePosition: r.pos}
					if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: cp}}); err != nil {
						return err
					}
				}
				continue
			}
			if err := srv.Send(fakeEvent(r)); err != nil {
				return err
			}
		}
		if len(batch) > 0 {
			continue
		}
		if !caughtUp && !f.noCaughtUp {
			caughtUp = true
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-wake:
		case <-srv.Context().Done():
			return nil
		}
	}
}

func fakeEvent(r fakeRecord) *api.ReadResp {
	most, least := binary.BigEndian.Uint64(r.id[:8]), binary.BigEndian.Uint64(r.id[8:])
	ev := &api.ReadResp_ReadEvent_RecordedEvent{
		Id:               &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: int64(most), LeastSignificantBits: int64(least)}}},
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
		StreamRevision:   r.revision,
		PreparePosition:  r.pos,
		CommitPosition:   r.pos,
		Metadata:         map[string]string{"type": r.typ, "content-type": r.contentType, "created": strconv.FormatInt(r.created, 10)},
		CustomMetadata:   r.meta,
		Data:             r.data,
	}
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event:    ev,
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.pos},
	}}}
}

func fakeUUID(u *shared.UUID) uuid.UUID {
	if s := u.GetStructured(); s != nil {
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[:8], uint64(s.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(id[8:], uint64(s.GetLeastSignificantBits()))
		return id
	}
	id, _ := uuid.Parse(u.GetString_())
	return id
}

// openFake opens a Store on f for one test.
func openFake(t testing.TB, f *fakeServer) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, f.conn(), Options{})
	if err != nil {
		t.Fatalf("open the fake server: %v", err)
	}
	return s
}
