// js_reach.go: a JetStream stream used from every server of a cluster with nats.go (Debian
// 1.22.1, GOPATH mode), driven by cluster_js_test.py:
//   argv[1..3]  the client URLs of servers A, B and C (one connection to each, no discovery)
//   B: AddStream WQ (wq.>, WorkQueuePolicy, MaxAge 24h; retried while clustered JetStream
//      is not ready); prints CREATED and waits for a line on stdin; then the same config again from A (idempotent) and another from A (10058)
//   A: 200 PublishAsync (PublishAsyncMaxPending 256) with a header each: PubAcks 1..200 in order
//   C: a pull consumer (AckExplicit, bound to WQ) fetches all 200 in order, payloads and
//      subjects and headers exact, and AckSyncs each
//   A: STREAM.INFO WQ shows 0 messages, last_seq 200
//   push: a limits stream PS made on B, 20 publishes on A, a push durable with flow control and
//      heartbeats subscribed on C gets them in order and AckSyncs them; PS deleted from A
//   A: STREAM.INFO NOPE answered once, 10059
//   C: DeleteStream WQ; then a publish on A gets no PubAck (no responders or timeout)
// Prints "STEP <name>" as it goes and "PASS"
// at the end; every wait is bounded; exit 0 pass, 1 fail ("FAIL ..." on stdout).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func step(s string) { fmt.Printf("STEP %s\n", s) }

func connect(url, name string) (*nats.Conn, nats.JetStreamContext) {
	nc, err := nats.Connect(url, nats.Name(name), nats.Timeout(3*time.Second), nats.NoReconnect())
	if err != nil {
		fail("connect %s: %v", url, err)
	}
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(256), nats.MaxWait(5*time.Second))
	if err != nil {
		fail("jetstream %s: %v", url, err)
	}
	return nc, js
}

func main() {
	ncA, jsA := connect(os.Args[1], "A")
	ncB, jsB := connect(os.Args[2], "B")
	ncC, jsC := connect(os.Args[3], "C")
	defer ncA.Close()
	defer ncB.Close()
	defer ncC.Close()

	step("create on B")
	cfg := &nats.StreamConfig{Name: "WQ", Subjects: []string{"wq.>"}, Retention: nats.WorkQueuePolicy,
		MaxAge: 24 * time.Hour, Storage: nats.FileStorage}
	var err error
	for i := 0; i < 60; i++ { // clustered JetStream elects its meta leader first
		if _, err = jsB.AddStream(cfg); err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		fail("AddStream on B: %v", err)
	}
	fmt.Println("CREATED")
	var line string
	fmt.Scanln(&line) // the test looks at where the stream is stored, then says GO
	// A clustered nats-server under load may take longer than MaxWait to answer through its
	// meta leader: a timeout is asked again (bounded), any other error fails.
	for i := 0; i < 6; i++ {
		if _, err = jsA.AddStream(cfg); err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			break
		}
	}
	if err != nil {
		fail("the same AddStream on A: %v", err)
	}
	other := *cfg
	other.MaxAge = time.Hour
	_, err = jsA.AddStream(&other)
	var apiErr *nats.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10058 {
		fail("AddStream on A with another config: want 10058, got %v", err)
	}

	step("publish on A")
	const n = 200
	futures := make([]nats.PubAckFuture, 0, n)
	for i := 0; i < n; i++ {
		m := nats.NewMsg(fmt.Sprintf("wq.%d", i%5))
		m.Data = []byte(fmt.Sprintf("order-%03d", i))
		m.Header.Set("Order-Idx", fmt.Sprint(i))
		f, err := jsA.PublishMsgAsync(m)
		if err != nil {
			fail("PublishMsgAsync %d: %v", i, err)
		}
		futures = append(futures, f)
	}
	select {
	case <-jsA.PublishAsyncComplete():
	case <-time.After(15 * time.Second):
		fail("PubAcks: %d of %d outstanding after 15 s", jsA.PublishAsyncPending(), n)
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Stream != "WQ" || ack.Sequence != uint64(i+1) {
				fail("PubAck %d: stream %q seq %d", i, ack.Stream, ack.Sequence)
			}
		case err := <-f.Err():
			fail("publish %d: %v", i, err)
		case <-time.After(5 * time.Second):
			fail("publish %d: no PubAck", i)
		}
	}

	step("pull on C")
	sub, err := jsC.PullSubscribe("wq.>", "W", nats.AckExplicit()) // the stream found by its subject, on C
	if err != nil {
		fail("PullSubscribe on C: %v", err)
	}
	got := 0
	for round := 0; round < 40 && got < n; round++ {
		msgs, err := sub.Fetch(50, nats.MaxWait(3*time.Second))
		if err != nil && !errors.Is(err, nats.ErrTimeout) {
			fail("Fetch after %d: %v", got, err)
		}
		for _, m := range msgs {
			if m.Subject != fmt.Sprintf("wq.%d", got%5) {
				fail("message %d: subject %q (a pull delivery names the stream subject)", got, m.Subject)
			}
			want := fmt.Sprintf("order-%03d", got)
			if string(m.Data) != want || m.Header.Get("Order-Idx") != fmt.Sprint(got) {
				fail("message %d: %q header %q", got, m.Data, m.Header.Get("Order-Idx"))
			}
			meta, err := m.Metadata()
			if err != nil || meta.Sequence.Stream != uint64(got+1) {
				fail("message %d: metadata %+v %v", got, meta, err)
			}
			if err := m.AckSync(nats.AckWait(5 * time.Second)); err != nil {
				fail("AckSync %d: %v", got, err)
			}
			got++
		}
	}
	if got != n {
		fail("fetched %d of %d", got, n)
	}

	step("info on A")
	var info *nats.StreamInfo
	for i := 0; i < 50; i++ {
		if info, err = jsA.StreamInfo("WQ"); err != nil {
			fail("StreamInfo on A: %v", err)
		}
		if info.State.Msgs == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if info.State.Msgs != 0 || info.State.LastSeq != n {
		fail("StreamInfo on A: %+v", info.State)
	}

	step("push on C")
	pcfg := &nats.StreamConfig{Name: "PS", Subjects: []string{"ps.>"}, Storage: nats.FileStorage}
	if _, err := jsB.AddStream(pcfg); err != nil {
		fail("AddStream PS on B: %v", err)
	}
	for i := 0; i < 20; i++ {
		if _, err := jsA.Publish(fmt.Sprintf("ps.%d", i%3), []byte(fmt.Sprintf("push-%02d", i))); err != nil {
			fail("Publish PS %d on A: %v", i, err)
		}
	}
	pushed := make(chan *nats.Msg, 64)
	psub, err := jsC.Subscribe("ps.>", func(m *nats.Msg) { pushed <- m },
		nats.Durable("P"), nats.ManualAck(), nats.AckExplicit(), nats.EnableFlowControl(),
		nats.IdleHeartbeat(time.Second))
	if err != nil {
		fail("push Subscribe on C: %v", err)
	}
	for i := 0; i < 20; i++ {
		select {
		case m := <-pushed:
			if string(m.Data) != fmt.Sprintf("push-%02d", i) || m.Subject != fmt.Sprintf("ps.%d", i%3) {
				fail("push %d: %s %q", i, m.Subject, m.Data)
			}
			if err := m.AckSync(nats.AckWait(5 * time.Second)); err != nil {
				fail("push AckSync %d: %v", i, err)
			}
		case <-time.After(5 * time.Second):
			fail("push: %d of 20 after 5 s", i)
		}
	}
	if ci, err := psub.ConsumerInfo(); err != nil || ci.AckFloor.Stream != 20 || !ci.PushBound {
		fail("push consumer info from C: %+v %v", ci, err)
	}
	if err := psub.Unsubscribe(); err != nil { // deletes the durable the subscription made
		fail("push Unsubscribe: %v", err)
	}
	if err := jsA.DeleteStream("PS"); err != nil {
		fail("DeleteStream PS on A: %v", err)
	}

	step("unknown stream on A")
	inbox := nats.NewInbox()
	answers, err := ncA.SubscribeSync(inbox)
	if err != nil {
		fail("subscribe: %v", err)
	}
	if err := ncA.PublishRequest("$JS.API.STREAM.INFO.NOPE", inbox, nil); err != nil {
		fail("request: %v", err)
	}
	first, err := answers.NextMsg(3 * time.Second)
	if err != nil {
		fail("STREAM.INFO NOPE: %v", err)
	}
	if !strings.Contains(string(first.Data), `"err_code":10059`) {
		fail("STREAM.INFO NOPE: %s", first.Data)
	}
	if extra, err := answers.NextMsg(time.Second); err == nil {
		fail("a second answer to STREAM.INFO NOPE: %s", extra.Data)
	}
	answers.Unsubscribe()

	step("delete on C")
	if err := jsC.DeleteStream("WQ"); err != nil {
		fail("DeleteStream on C: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the withdrawal crosses the routes
	_, err = jsA.Publish("wq.after", []byte("late"), nats.AckWait(2*time.Second))
	if err == nil {
		fail("a publish on A after the delete got a PubAck")
	}
	fmt.Printf("AFTER-DELETE %v\n", err)
	if _, err := jsB.StreamInfo("WQ"); !errors.Is(err, nats.ErrStreamNotFound) {
		fail("StreamInfo on B after the delete: %v", err)
	}
	fmt.Println("PASS")
}
