// tls_nats_bench.go: nats.go pub/sub over plaintext or TLS, for bench/run_tls.sh. One result
// line ("RESULT key=value ...") per run.
//
//	tls_nats_bench pubsub  URL SIZE MSGS   [CA]  one publishing and one subscribed connection;
//	                                             rate = MSGS / (first publish -> last delivery)
//	tls_nats_bench latency URL SIZE RATE SECS [CA]  publishes paced at RATE msgs/s, each payload
//	                                             carrying its send time; p50/p99 of publish ->
//	                                             delivery in microseconds (same process, one clock)
//
// With CA the connections use nats.Secure and RootCAs (the server's certificate is verified).
// Built in GOPATH mode against Debian's nats.go, as bench/run_js.sh builds js_bench.go.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

func fail(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "tls_nats_bench: "+f+"\n", a...)
	os.Exit(2)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		fail("not a positive number: %q", s)
	}
	return n
}

func connect(url, ca, name string) *nats.Conn {
	opts := []nats.Option{nats.Name(name), nats.Timeout(5 * time.Second), nats.NoReconnect(),
		// A slow consumer here would only mean the bench outran itself: never drop.
		nats.SyncQueueLen(1 << 20)}
	if ca != "" {
		opts = append(opts, nats.Secure(), nats.RootCAs(ca))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		fail("connect %s: %v", url, err)
	}
	return nc
}

func pubsub(url string, size, msgs int, ca string) {
	sub := connect(url, ca, "bench-sub")
	pub := connect(url, ca, "bench-pub")
	defer sub.Close()
	defer pub.Close()
	var got int64
	done := make(chan struct{})
	s, err := sub.Subscribe("bench.tls", func(m *nats.Msg) {
		if atomic.AddInt64(&got, 1) == int64(msgs) {
			close(done)
		}
	})
	if err != nil {
		fail("subscribe: %v", err)
	}
	s.SetPendingLimits(-1, -1)
	if err := sub.Flush(); err != nil {
		fail("flush: %v", err)
	}
	payload := make([]byte, size)
	t0 := time.Now()
	for i := 0; i < msgs; i++ {
		if err := pub.Publish("bench.tls", payload); err != nil {
			fail("publish: %v", err)
		}
	}
	if err := pub.Flush(); err != nil {
		fail("flush: %v", err)
	}
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		fail("only %d of %d delivered", atomic.LoadInt64(&got), msgs)
	}
	secs := time.Since(t0).Seconds()
	fmt.Printf("RESULT mode=pubsub size=%d msgs=%d secs=%.3f msgs_per_s=%.0f mb_per_s=%.1f\n", size, msgs, secs,
		float64(msgs)/secs, float64(msgs)*float64(size)/secs/1e6)
}

func latency(url string, size, rate, secs int, ca string) {
	if size < 8 {
		size = 8
	}
	sub := connect(url, ca, "bench-sub")
	pub := connect(url, ca, "bench-pub")
	defer sub.Close()
	defer pub.Close()
	total := rate * secs
	lat := make([]int64, 0, total)
	done := make(chan struct{})
	base := time.Now()
	_, err := sub.Subscribe("bench.lat", func(m *nats.Msg) {
		sent := int64(binary.LittleEndian.Uint64(m.Data))
		lat = append(lat, int64(time.Since(base))-sent)
		if len(lat) == total {
			close(done)
		}
	})
	if err != nil {
		fail("subscribe: %v", err)
	}
	if err := sub.Flush(); err != nil {
		fail("flush: %v", err)
	}
	payload := make([]byte, size)
	interval := time.Second / time.Duration(rate)
	for i := 0; i < total; i++ {
		due := time.Duration(i) * interval
		for time.Since(base) < due {
			if d := due - time.Since(base); d > 200*time.Microsecond {
				time.Sleep(d - 100*time.Microsecond)
			}
		}
		binary.LittleEndian.PutUint64(payload, uint64(time.Since(base)))
		if err := pub.Publish("bench.lat", payload); err != nil {
			fail("publish: %v", err)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Duration(secs+30) * time.Second):
		fail("only %d of %d delivered", len(lat), total)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e3 }
	fmt.Printf("RESULT mode=latency size=%d rate=%d msgs=%d p50_us=%.0f p99_us=%.0f p999_us=%.0f\n", size, rate,
		len(lat), q(0.50), q(0.99), q(0.999))
}

func main() {
	a := os.Args
	if len(a) >= 5 && a[1] == "pubsub" {
		ca := ""
		if len(a) > 5 {
			ca = a[5]
		}
		pubsub(a[2], atoi(a[3]), atoi(a[4]), ca)
		return
	}
	if len(a) >= 6 && a[1] == "latency" {
		ca := ""
		if len(a) > 6 {
			ca = a[6]
		}
		latency(a[2], atoi(a[3]), atoi(a[4]), atoi(a[5]), ca)
		return
	}
	fail("usage: tls_nats_bench pubsub URL SIZE MSGS [CA] | latency URL SIZE RATE SECS [CA]")
}
