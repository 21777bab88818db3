// js_kills.go: a replicated JetStream stream (Replicas 3) under continuous synchronous publishing
// while its leader is killed -9 again and again, with nats.go (Debian 1.22.1, GOPATH mode),
// driven by cluster_js_kills_test.py, which does the kills, restarts and catch-up waits:
//   argv[1..3]  the client URLs of servers 0, 1 and 2 (one connection to each, no discovery, no
//               reconnect: a killed server's connection is closed and dialled again on "UP i")
//   on server 0: AddStream KILLS (kil.>, Replicas 3, file storage; retried while clustered
//      JetStream is not ready), then a durable pull consumer LIVE (AckExplicit, AckWait 5 s);
//      prints CREATED and waits for GO
//   a publisher goroutine: kil.<i%10>, Nats-Msg-Id k-NNNNNN, payload the id and 64 bytes derived
//      from i, AckWait 1 s, a 5 ms pause between messages; a failed publish is sent again with
//      the same id (60 s at most for one message), each attempt through the first live
//      connection that is not the one about to be killed
//   a reader goroutine: Fetch(100, MaxWait 1 s) from LIVE through such a connection (bound
//      again through another when its connection goes), Ack of every message; it records
//      every Nats-Msg-Id it is given, and every payload must be the one of its id
//   stdin, from the test:
//      "KILL i"             the test will kill -9 server i (the stream's leader): the publisher
//                           and the reader move off it; prints READY
//      "KILLED i <unix ns>" server i was killed at that time: prints FAILOVER_MS <ms> once a
//                           publish attempt started after the kill is acked
//      "UP i"               server i runs again: its connection is dialled again (10 s at most)
//      "DONE"               stop publishing, then check
//   the checks: the PubAck sequences are exactly 1..N, each once (a re-sent id keeps its one
//   sequence: msg-id de-duplication); STREAM.INFO says N messages, first 1, last N; GetMsg of
//   every sequence gives the subject, the Nats-Msg-Id and every payload byte of the message
//   acked with it; the reader, given 30 s more, has seen every one of the N at least once and
//   nothing else (REDELIVERED counts the extra deliveries)
// Prints "RETRY ..." for the first errors, "STEP <name>" as it goes and "PASS" at the end; every
// wait is bounded; exit 0 pass, 1 fail ("FAIL ..." on stdout).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	stream   = "KILLS"
	consumer = "LIVE"
)

var out sync.Mutex

func say(format string, args ...interface{}) {
	out.Lock()
	fmt.Printf(format+"\n", args...)
	out.Unlock()
}

func fail(format string, args ...interface{}) {
	say("FAIL "+format, args...)
	os.Exit(1)
}

func msgID(i int) string { return fmt.Sprintf("k-%06d", i) }

func subject(i int) string { return fmt.Sprintf("kil.%d", i%10) }

func payload(i int) []byte {
	b := []byte(msgID(i))
	for k := 0; k < 64; k++ {
		b = append(b, byte((i*31+k*7+i/7)%256))
	}
	return b
}

// servers: one connection per server, dialled again after a restart.
type servers struct {
	mu    sync.Mutex
	urls  []string
	nc    []*nats.Conn
	js    []nats.JetStreamContext
	avoid int // the server about to be killed, or -1
}

func (s *servers) dial(i int) error {
	nc, err := nats.Connect(s.urls[i], nats.Name(fmt.Sprintf("kills-%d", i)), nats.Timeout(2*time.Second),
		nats.NoReconnect())
	if err != nil {
		return err
	}
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		nc.Close()
		return err
	}
	s.mu.Lock()
	if s.nc[i] != nil {
		s.nc[i].Close()
	}
	s.nc[i], s.js[i] = nc, js
	s.mu.Unlock()
	return nil
}

// pick is a live connection that is not the one about to be killed, or -1.
func (s *servers) pick() (int, *nats.Conn, nats.JetStreamContext) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.nc {
		if i != s.avoid && s.nc[i] != nil && !s.nc[i].IsClosed() && s.nc[i].IsConnected() {
			return i, s.nc[i], s.js[i]
		}
	}
	return -1, nil, nil
}

func (s *servers) setAvoid(i int) {
	s.mu.Lock()
	s.avoid = i
	s.mu.Unlock()
}

func (s *servers) closeAll() {
	s.mu.Lock()
	for _, nc := range s.nc {
		if nc != nil {
			nc.Close()
		}
	}
	s.mu.Unlock()
}

// publisher state, shared with main
type pubState struct {
	mu       sync.Mutex
	seqs     []uint64 // by message index, from 1
	acked    int      // messages 1..acked have their PubAck
	killedAt time.Time
	killNo   int
	measured bool
	failover []int64
	retries  int
	dups     int
	printed  int
	errKinds map[string]int
	stop     bool
	fatal    string
}

func publisher(s *servers, ps *pubState, done chan struct{}) {
	defer close(done)
	for i := 1; ; i++ {
		ps.mu.Lock()
		stop := ps.stop
		ps.mu.Unlock()
		if stop {
			return
		}
		start := time.Now()
		for {
			attempt := time.Now()
			var err error
			var ack *nats.PubAck
			_, _, js := s.pick()
			if js == nil {
				err = errors.New("no live connection")
			} else {
				ack, err = js.Publish(subject(i), payload(i), nats.MsgId(msgID(i)), nats.AckWait(time.Second))
				if err == nil && ack.Stream != stream {
					err = fmt.Errorf("PubAck names stream %q", ack.Stream)
				}
			}
			if err == nil {
				ps.mu.Lock()
				ps.seqs = append(ps.seqs, ack.Sequence)
				ps.acked = i
				if ack.Duplicate {
					ps.dups++
					say("DUPLICATE %d seq %d", i, ack.Sequence)
				}
				if !ps.killedAt.IsZero() && !ps.measured && attempt.After(ps.killedAt) {
					ms := time.Since(ps.killedAt).Milliseconds()
					ps.failover = append(ps.failover, ms)
					ps.measured = true
					say("FAILOVER_MS %d kill %d message %d", ms, ps.killNo, i)
				}
				ps.mu.Unlock()
				break
			}
			ps.mu.Lock()
			ps.retries++
			ps.errKinds[err.Error()]++
			if ps.printed < 40 {
				ps.printed++
				say("RETRY %d after %d ms: %v", i, time.Since(start).Milliseconds(), err)
			}
			ps.mu.Unlock()
			if time.Since(start) > 60*time.Second {
				ps.mu.Lock()
				ps.fatal = fmt.Sprintf("publish %d: no PubAck within 60 s, last error %v", i, err)
				ps.mu.Unlock()
				return
			}
			if !errors.Is(err, nats.ErrTimeout) {
				time.Sleep(100 * time.Millisecond) // a quick error: do not spin
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reader state
type readState struct {
	mu         sync.Mutex
	seen       map[string]int
	deliveries int
	rebinds    int
	bad        string
	stop       bool
}

func reader(s *servers, rs *readState, done chan struct{}) {
	defer close(done)
	var sub *nats.Subscription
	var subConn *nats.Conn
	errs, bindErrs := 0, 0
	for {
		rs.mu.Lock()
		stop := rs.stop
		rs.mu.Unlock()
		if stop {
			return
		}
		i, nc, js := s.pick()
		if js == nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if sub == nil || subConn != nc || errs >= 3 {
			if sub != nil && !subConn.IsClosed() {
				sub.Unsubscribe()
			}
			var err error
			sub, err = js.PullSubscribe("", consumer, nats.Bind(stream, consumer))
			if err != nil {
				sub = nil
				if bindErrs++; bindErrs <= 20 {
					say("READER bind via %d: %v", i, err)
				}
				time.Sleep(200 * time.Millisecond)
				continue
			}
			subConn = nc
			errs = 0
			rs.mu.Lock()
			rs.rebinds++
			rs.mu.Unlock()
		}
		msgs, err := sub.Fetch(100, nats.MaxWait(time.Second))
		if err != nil && !errors.Is(err, nats.ErrTimeout) {
			errs++
			time.Sleep(100 * time.Millisecond)
		}
		for _, m := range msgs {
			id := m.Header.Get(nats.MsgIdHdr)
			n, perr := strconv.Atoi(strings.TrimPrefix(id, "k-"))
			rs.mu.Lock()
			rs.deliveries++
			rs.seen[id]++
			if rs.bad == "" && (perr != nil || !strings.HasPrefix(id, "k-") || m.Subject != subject(n) ||
				!bytes.Equal(m.Data, payload(n))) {
				rs.bad = fmt.Sprintf("delivered %q on %s payload %q", id, m.Subject, m.Data)
			}
			rs.mu.Unlock()
			m.Ack()
		}
	}
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: js_kills URL_0 URL_1 URL_2")
	}
	s := &servers{urls: os.Args[1:], nc: make([]*nats.Conn, 3), js: make([]nats.JetStreamContext, 3), avoid: -1}
	for i := range s.urls {
		if err := s.dial(i); err != nil {
			fail("connect %d %s: %v", i, s.urls[i], err)
		}
	}
	defer s.closeAll()
	stdin := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			stdin <- strings.TrimSpace(sc.Text())
		}
		close(stdin)
	}()

	say("STEP create on 0")
	cfg := &nats.StreamConfig{Name: stream, Subjects: []string{"kil.>"}, Replicas: 3, Storage: nats.FileStorage}
	var err error
	for a := 0; a < 60; a++ { // clustered JetStream elects its meta leader first
		if _, err = s.js[0].AddStream(cfg); err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		fail("AddStream %s (Replicas 3) on 0: %v", stream, err)
	}
	for a := 0; a < 40; a++ {
		if _, err = s.js[0].AddConsumer(stream, &nats.ConsumerConfig{Durable: consumer, AckPolicy: nats.AckExplicitPolicy,
			AckWait: 5 * time.Second, DeliverPolicy: nats.DeliverAllPolicy}); err == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		fail("AddConsumer %s on 0: %v", consumer, err)
	}
	say("CREATED")

	ps := &pubState{seqs: []uint64{0}, errKinds: map[string]int{}}
	rs := &readState{seen: map[string]int{}}
	pubDone := make(chan struct{})
	readDone := make(chan struct{})
	started := false
	timeout := time.After(540 * time.Second)
loop:
	for {
		var l string
		var ok bool
		select {
		case l, ok = <-stdin:
			if !ok {
				fail("stdin closed")
			}
		case <-pubDone:
			ps.mu.Lock()
			f := ps.fatal
			ps.mu.Unlock()
			fail("the publisher stopped: %s", f)
		case <-timeout:
			fail("no DONE within 540 s")
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "GO":
			if !started {
				started = true
				go publisher(s, ps, pubDone)
				go reader(s, rs, readDone)
			}
			say("GOING")
		case "KILL":
			i, _ := strconv.Atoi(f[1])
			s.setAvoid(i)
			ps.mu.Lock()
			n := ps.acked
			ps.mu.Unlock()
			say("READY acked %d", n)
		case "KILLED":
			ns, _ := strconv.ParseInt(f[2], 10, 64)
			ps.mu.Lock()
			ps.killedAt = time.Unix(0, ns)
			ps.killNo++
			ps.measured = false
			ps.mu.Unlock()
		case "UP":
			i, _ := strconv.Atoi(f[1])
			var derr error
			for a := 0; a < 40; a++ {
				if derr = s.dial(i); derr == nil {
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
			if derr != nil {
				fail("dial %d again: %v", i, derr)
			}
			s.setAvoid(-1)
			ps.mu.Lock()
			n, m := ps.acked, ps.measured
			ps.mu.Unlock()
			say("REDIALLED %d acked %d measured %v", i, n, m)
		case "ACKED":
			ps.mu.Lock()
			n := ps.acked
			ps.mu.Unlock()
			say("ACKED %d", n)
		case "DONE":
			break loop
		default:
			fail("unknown command %q", l)
		}
	}
	if !started {
		fail("DONE before GO")
	}
	ps.mu.Lock()
	ps.stop = true
	ps.mu.Unlock()
	select {
	case <-pubDone:
	case <-time.After(70 * time.Second):
		fail("the publisher did not stop within 70 s")
	}
	ps.mu.Lock()
	if ps.fatal != "" {
		fail("the publisher: %s", ps.fatal)
	}
	total := ps.acked
	seqs := ps.seqs
	var kinds []string
	for k, n := range ps.errKinds {
		kinds = append(kinds, fmt.Sprintf("%dx %s", n, k))
	}
	sort.Strings(kinds)
	say("PUBLISHED %d retries %d duplicates %d errors [%s]", total, ps.retries, ps.dups, strings.Join(kinds, "; "))
	if !ps.measured && !ps.killedAt.IsZero() {
		fail("no PubAck after the last kill")
	}
	ps.mu.Unlock()
	if len(seqs) != total+1 {
		fail("%d PubAcks for %d messages", len(seqs)-1, total)
	}

	say("STEP sequences")
	bySeq := make(map[uint64]int, total)
	for i := 1; i <= total; i++ {
		if seqs[i] < 1 || seqs[i] > uint64(total) {
			fail("message %d acked with seq %d, outside 1..%d", i, seqs[i], total)
		}
		if j, dup := bySeq[seqs[i]]; dup {
			fail("messages %d and %d both acked with seq %d", j, i, seqs[i])
		}
		bySeq[seqs[i]] = i
	}
	inOrder := 0
	for i := 1; i <= total; i++ {
		if seqs[i] == uint64(i) {
			inOrder++
		}
	}
	say("SEQS distinct 1..%d (%d of them equal to the message's index)", total, inOrder)

	say("STEP stream info")
	var si *nats.StreamInfo
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, js := s.pick()
		if js != nil {
			si, err = js.StreamInfo(stream)
			if err == nil && si.State.Msgs == uint64(total) {
				break
			}
		}
		if time.Now().After(deadline) {
			if err != nil || si == nil {
				fail("StreamInfo: %v", err)
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if si.Config.Replicas != 3 || si.State.Msgs != uint64(total) || si.State.FirstSeq != 1 ||
		si.State.LastSeq != uint64(total) {
		fail("stream: replicas %d, %d messages, first %d, last %d; want 3, %d, 1, %d", si.Config.Replicas,
			si.State.Msgs, si.State.FirstSeq, si.State.LastSeq, total, total)
	}
	say("INFO messages %d first %d last %d", si.State.Msgs, si.State.FirstSeq, si.State.LastSeq)

	say("STEP read back")
	_, _, js := s.pick()
	for seq := uint64(1); seq <= uint64(total); seq++ {
		var m *nats.RawStreamMsg
		for a := 0; ; a++ {
			if m, err = js.GetMsg(stream, seq); err == nil || a == 5 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			fail("GetMsg %d: %v", seq, err)
		}
		i := bySeq[seq]
		if m.Sequence != seq || m.Subject != subject(i) || !bytes.Equal(m.Data, payload(i)) {
			fail("GetMsg %d: seq %d subject %q payload %q; want message %d on %s, %q", seq, m.Sequence,
				m.Subject, m.Data, i, subject(i), payload(i))
		}
		if got := m.Header.Get(nats.MsgIdHdr); got != msgID(i) {
			fail("GetMsg %d: Nats-Msg-Id %q, want %q", seq, got, msgID(i))
		}
	}
	say("READBACK %d", total)

	say("STEP the live reader")
	deadline = time.Now().Add(30 * time.Second)
	missing := 0
	for {
		rs.mu.Lock()
		missing = 0
		for i := 1; i <= total; i++ {
			if rs.seen[msgID(i)] == 0 {
				missing++
			}
		}
		extra := len(rs.seen) - (total - missing)
		bad := rs.bad
		rs.mu.Unlock()
		if bad != "" {
			fail("the reader: %s", bad)
		}
		if extra != 0 {
			fail("the reader saw %d ids that were never acked", extra)
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	rs.mu.Lock()
	rs.stop = true
	first := ""
	for i := 1; i <= total && first == ""; i++ {
		if rs.seen[msgID(i)] == 0 {
			first = msgID(i)
		}
	}
	say("READ distinct %d deliveries %d redelivered %d binds %d", len(rs.seen), rs.deliveries,
		rs.deliveries-len(rs.seen), rs.rebinds)
	rs.mu.Unlock()
	if missing != 0 {
		fail("the reader never got %d of the %d messages (the first %s)", missing, total, first)
	}
	select {
	case <-readDone:
	case <-time.After(10 * time.Second):
		fail("the reader did not stop within 10 s")
	}
	say("PASS")
}
