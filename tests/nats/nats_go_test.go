// nats_go_test.go: nats.go 1.22.1 (Debian, GOPATH mode) against the NATS server in
// SLUICE_NATS_URL (started by natsh.py): 10,000 random payloads of 0 B-64 KiB byte-exact and in
// order, plain and with headers (HPUB); wildcard subsets (nats-subset.md §9); a queue group;
// 1,000 requests with the new-style inbox; no responders failing fast; headers with repeated
// keys; AutoUnsubscribe. Publisher and subscribers are separate connections. Every wait is
// bounded. Exit 0 pass, 1 fail.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

var (
	url      = os.Getenv("SLUICE_NATS_URL")
	failures []string
	checks   int
	asyncMu  sync.Mutex
	asyncErr []string
)

type failure struct{ msg string }

func fail(format string, args ...interface{}) {
	panic(failure{fmt.Sprintf(format, args...)})
}

func check(cond bool, format string, args ...interface{}) {
	checks++
	if !cond {
		fail(format, args...)
	}
}

func eq(got, want interface{}, what string) {
	checks++
	if !reflect.DeepEqual(got, want) {
		g, w := fmt.Sprintf("%q", got), fmt.Sprintf("%q", want)
		if len(g) > 300 {
			g = g[:300] + "..."
		}
		if len(w) > 300 {
			w = w[:300] + "..."
		}
		fail("%s: got %s, want %s", what, g, w)
	}
}

func section(name string, f func()) {
	fmt.Printf("---- %s\n", name)
	t0 := time.Now()
	func() {
		defer func() {
			if r := recover(); r != nil {
				if f, ok := r.(failure); ok {
					failures = append(failures, name)
					fmt.Printf("FAIL [%s]: %s\n", name, f.msg)
					return
				}
				panic(r)
			}
		}()
		f()
		asyncMu.Lock()
		errs := asyncErr
		asyncErr = nil
		asyncMu.Unlock()
		if len(errs) > 0 {
			fail("asynchronous client errors: %v", errs)
		}
		fmt.Printf("     ok (%.1f s)\n", time.Since(t0).Seconds())
	}()
}

func connect(name string) *nats.Conn {
	nc, err := nats.Connect(url, nats.Name(name), nats.NoReconnect(), nats.Timeout(5*time.Second),
		nats.ErrorHandler(func(c *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			asyncMu.Lock()
			asyncErr = append(asyncErr, fmt.Sprintf("%s sub %q: %v", name, subj, err))
			asyncMu.Unlock()
		}))
	if err != nil {
		fail("connect %s to %s: %v", name, url, err)
	}
	return nc
}

func flush(nc *nats.Conn, what string) {
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		fail("flush %s: %v", what, err)
	}
}

// waitFor polls cond every ms until it holds or the deadline passes.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return cond()
}

const nPayloads = 10000
const maxPayload = 64 * 1024
const window = 512 // messages in flight between publisher and subscriber

// payload i: length and bytes derived from the index alone (0 B first, 64 KiB second).
func payload(seed int64, i int) []byte {
	r := rand.New(rand.NewSource(seed*1000003 + int64(i)))
	n := r.Intn(maxPayload + 1)
	switch i {
	case 0:
		n = 0
	case 1:
		n = maxPayload
	case 2:
		n = 1
	}
	b := make([]byte, n)
	r.Read(b)
	return b
}

func payloadRun(withHeaders bool) {
	seed := time.Now().UnixNano()
	pub, sub := connect("go-pub"), connect("go-sub")
	defer pub.Close()
	defer sub.Close()
	subj := fmt.Sprintf("pay.%d.%v", seed, withHeaders)
	var received int64
	var mu sync.Mutex
	var firstErr string
	var totalBytes int64
	s, err := sub.Subscribe(subj, func(m *nats.Msg) {
		k := int(atomic.LoadInt64(&received))
		want := payload(seed, k)
		bad := ""
		if !bytes.Equal(m.Data, want) {
			bad = fmt.Sprintf("message %d: %d bytes differ from the %d published (first 16: %x vs %x)",
				k, len(m.Data), len(want), head(m.Data), head(want))
		} else if withHeaders {
			wh := header(k, len(want))
			if !reflect.DeepEqual(m.Header, wh) {
				bad = fmt.Sprintf("message %d: header %v, want %v", k, m.Header, wh)
			}
		} else if len(m.Header) != 0 {
			bad = fmt.Sprintf("message %d: unexpected header %v", k, m.Header)
		}
		if bad != "" {
			mu.Lock()
			if firstErr == "" {
				firstErr = bad
			}
			mu.Unlock()
		}
		atomic.AddInt64(&totalBytes, int64(len(m.Data)))
		atomic.AddInt64(&received, 1)
	})
	check(err == nil, "subscribe: %v", err)
	flush(sub, "subscriber")
	var sent int64
	for i := 0; i < nPayloads; i++ {
		if !waitFor(30*time.Second, func() bool { return int64(i)-atomic.LoadInt64(&received) < window }) {
			fail("subscriber stuck at %d of %d published", atomic.LoadInt64(&received), i)
		}
		p := payload(seed, i)
		sent += int64(len(p))
		if withHeaders {
			m := nats.NewMsg(subj)
			m.Data = p
			m.Header = header(i, len(p))
			err = pub.PublishMsg(m)
		} else {
			err = pub.Publish(subj, p)
		}
		check(err == nil, "publish %d: %v", i, err)
	}
	flush(pub, "publisher")
	ok := waitFor(60*time.Second, func() bool { return atomic.LoadInt64(&received) >= nPayloads })
	mu.Lock()
	fe := firstErr
	mu.Unlock()
	check(fe == "", "%s", fe)
	check(ok, "received %d of %d messages", atomic.LoadInt64(&received), nPayloads)
	flush(sub, "subscriber")
	eq(atomic.LoadInt64(&received), int64(nPayloads), "message count (no extra messages)")
	eq(atomic.LoadInt64(&totalBytes), sent, "payload bytes")
	s.Unsubscribe()
	fmt.Printf("     %d messages, %.1f MB\n", nPayloads, float64(sent)/1e6)
}

func head(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

func header(i, n int) nats.Header {
	return nats.Header{
		"Idx":      []string{strconv.Itoa(i)},
		"X-Multi":  []string{"a", "b" + strconv.Itoa(i%7), "c"},
		"x-lower":  []string{strconv.Itoa(n)},
		"MiXeD-Ck": []string{"v:1:2"},
	}
}

func collect(s *nats.Subscription) []string {
	var out []string
	for i := 0; i < 100; i++ {
		m, err := s.NextMsg(0)
		if err != nil {
			m, err = s.NextMsg(50 * time.Millisecond)
			if err != nil {
				break
			}
		}
		out = append(out, m.Subject)
	}
	return out
}

func wildcards() {
	pub, sub := connect("go-wc-pub"), connect("go-wc-sub")
	defer pub.Close()
	defer sub.Close()
	pfx := fmt.Sprintf("w%d", time.Now().UnixNano()%1000000)
	// Subjects are prefixed with a token of their own so runs against a shared server do not
	// see each other; the patterns below are the §9 examples under that prefix.
	p := func(s string) string { return pfx + "." + s }
	subs := map[string]*nats.Subscription{}
	patterns := []string{"orders.*", "orders.>", "*.created", "*.>", "orders.created"}
	for _, pat := range patterns {
		s, err := sub.SubscribeSync(p(pat))
		check(err == nil, "subscribe %s: %v", pat, err)
		subs[pat] = s
	}
	flush(sub, "subscriber")
	published := []string{"orders.created", "orders.shipped", "orders.eu.created", "orders.created.x",
		"orders", "users.created", "ordersX.created", "orders.*", "orders.>", "users.x.created"}
	for _, s := range published {
		check(pub.Publish(p(s), []byte(s)) == nil, "publish %s", s)
	}
	flush(pub, "publisher")
	flush(sub, "subscriber")
	want := map[string][]string{
		"orders.*":       {"orders.created", "orders.shipped", "orders.*", "orders.>"},
		"orders.>":       {"orders.created", "orders.shipped", "orders.eu.created", "orders.created.x", "orders.*", "orders.>"},
		"*.created":      {"orders.created", "users.created", "ordersX.created"},
		"*.>":            {"orders.created", "orders.shipped", "orders.eu.created", "orders.created.x", "users.created", "ordersX.created", "orders.*", "orders.>", "users.x.created"},
		"orders.created": {"orders.created"},
	}
	for _, pat := range patterns {
		var w []string
		for _, s := range want[pat] {
			w = append(w, p(s))
		}
		eq(collect(subs[pat]), w, "subscription "+pat)
	}
}

func wildcardsUnprefixed() {
	// The exact §9 subjects with no prefix: only when the server is ours alone.
	pub, sub := connect("go-wc2-pub"), connect("go-wc2-sub")
	defer pub.Close()
	defer sub.Close()
	patterns := []string{"orders.*", "orders.>", "*.created", "*.>", "orders.created"}
	subs := map[string]*nats.Subscription{}
	for _, pat := range patterns {
		s, err := sub.SubscribeSync(pat)
		check(err == nil, "subscribe %s: %v", pat, err)
		subs[pat] = s
	}
	flush(sub, "subscriber")
	published := []string{"orders.created", "orders.shipped", "orders.eu.created", "orders.created.x",
		"orders", "users.created", "ordersX.created", "orders.*"}
	for _, s := range published {
		check(pub.Publish(s, []byte(s)) == nil, "publish %s", s)
	}
	flush(pub, "publisher")
	flush(sub, "subscriber")
	want := map[string][]string{
		"orders.*":       {"orders.created", "orders.shipped", "orders.*"},
		"orders.>":       {"orders.created", "orders.shipped", "orders.eu.created", "orders.created.x", "orders.*"},
		"*.created":      {"orders.created", "users.created", "ordersX.created"},
		"*.>":            {"orders.created", "orders.shipped", "orders.eu.created", "orders.created.x", "users.created", "ordersX.created", "orders.*"},
		"orders.created": {"orders.created"},
	}
	for _, pat := range patterns {
		eq(collect(subs[pat]), want[pat], "subscription "+pat)
	}
}

func queueGroup() {
	pub, plainc := connect("go-q-pub"), connect("go-q-plain")
	m1, m2 := connect("go-q-m1"), connect("go-q-m2")
	defer func() { pub.Close(); plainc.Close(); m1.Close(); m2.Close() }()
	subj := fmt.Sprintf("jobs.%d", time.Now().UnixNano())
	var mu sync.Mutex
	got := map[string][]string{}
	mk := func(nc *nats.Conn, name, queue string) {
		var err error
		cb := func(m *nats.Msg) { mu.Lock(); got[name] = append(got[name], string(m.Data)); mu.Unlock() }
		if queue == "" {
			_, err = nc.Subscribe(subj, cb)
		} else {
			_, err = nc.QueueSubscribe(subj, queue, cb)
		}
		check(err == nil, "subscribe %s: %v", name, err)
		flush(nc, name)
	}
	mk(m1, "m1", "workers")
	mk(m2, "m2", "workers")
	mk(plainc, "plain", "")
	const n = 1000
	var all []string
	for i := 0; i < n; i++ {
		s := fmt.Sprintf("job-%04d", i)
		all = append(all, s)
		check(pub.Publish(subj, []byte(s)) == nil, "publish")
	}
	flush(pub, "publisher")
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(got["m1"]) + len(got["m2"]), len(got["plain"])
	}
	waitFor(10*time.Second, func() bool { q, p := count(); return q >= n && p >= n })
	for _, c := range []*nats.Conn{m1, m2, plainc} {
		flush(c, "member")
	}
	mu.Lock()
	defer mu.Unlock()
	eq(got["plain"], all, "plain subscriber sees every message in order")
	union := append(append([]string{}, got["m1"]...), got["m2"]...)
	sort.Strings(union)
	eq(union, all, "queue members together: each message exactly once")
	check(len(got["m1"]) >= 100 && len(got["m2"]) >= 100,
		"both members get a share: m1 %d, m2 %d of %d", len(got["m1"]), len(got["m2"]), n)
	for _, name := range []string{"m1", "m2"} {
		check(sort.StringsAreSorted(got[name]), "member %s in publish order", name)
	}
	fmt.Printf("     m1 %d, m2 %d, plain %d\n", len(got["m1"]), len(got["m2"]), len(got["plain"]))
}

func requests() {
	req, resp := connect("go-req"), connect("go-resp")
	defer req.Close()
	defer resp.Close()
	subj := fmt.Sprintf("svc.%d", time.Now().UnixNano())
	var served int64
	_, err := resp.Subscribe(subj, func(m *nats.Msg) {
		atomic.AddInt64(&served, 1)
		out := nats.NewMsg(m.Reply)
		out.Data = append([]byte("re:"), m.Data...)
		if len(m.Header) > 0 {
			out.Header = m.Header
		}
		if err := resp.PublishMsg(out); err != nil {
			fmt.Printf("respond: %v\n", err)
		}
	})
	check(err == nil, "subscribe: %v", err)
	flush(resp, "responder")
	t0 := time.Now()
	for i := 0; i < 1000; i++ {
		data := []byte(fmt.Sprintf("q-%d-%s", i, bytes.Repeat([]byte{'x'}, i%97)))
		m, err := req.Request(subj, data, 5*time.Second)
		check(err == nil, "request %d: %v", i, err)
		eq(string(m.Data), "re:"+string(data), fmt.Sprintf("reply %d", i))
		check(len(m.Subject) > len("_INBOX.")+23 && m.Subject[:7] == "_INBOX.",
			"reply %d came on %q, want the new-style _INBOX.<nuid>.<token>", i, m.Subject)
	}
	fmt.Printf("     1000 requests in %.2f s\n", time.Since(t0).Seconds())
	eq(atomic.LoadInt64(&served), int64(1000), "requests served")
	// with headers, repeated keys
	in := nats.NewMsg(subj)
	in.Data = []byte("hdr")
	in.Header = nats.Header{"K": {"1", "2", "3"}, "Other-Key": {"x"}}
	m, err := req.RequestMsg(in, 5*time.Second)
	check(err == nil, "request with headers: %v", err)
	eq(string(m.Data), "re:hdr", "reply with headers")
	eq(m.Header, in.Header, "headers echoed by the responder")
}

func noResponders() {
	nc := connect("go-nr")
	defer nc.Close()
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		_, err := nc.Request(fmt.Sprintf("nobody.%d.%d", time.Now().UnixNano(), i), []byte("x"), 5*time.Second)
		el := time.Since(t0)
		check(errors.Is(err, nats.ErrNoResponders), "request %d: err %v, want ErrNoResponders", i, err)
		check(el < time.Second, "no-responders took %v (must be < 1 s)", el)
	}
	// the connection is still fine afterwards
	flush(nc, "after no responders")
}

func headersRoundTrip() {
	pub, sub := connect("go-h-pub"), connect("go-h-sub")
	defer pub.Close()
	defer sub.Close()
	subj := fmt.Sprintf("hdr.%d", time.Now().UnixNano())
	s, err := sub.SubscribeSync(subj)
	check(err == nil, "subscribe: %v", err)
	flush(sub, "subscriber")
	hs := []nats.Header{
		{"X-Multi": {"one", "two", "three", "two"}},
		{"x-lower": {"a"}, "X-Lower": {"b", "c"}, "MiXeD-CaSe": {"v1", "v2"}},
		{"Key": {"value with spaces", "a:b:c", "ünïcode"}, "Nats-Msg-Id": {"id-1"}},
		{"Only": {"x"}},
	}
	for i, h := range hs {
		m := nats.NewMsg(subj)
		m.Header = h
		if i%2 == 0 {
			m.Data = []byte(fmt.Sprintf("body-%d", i))
		}
		check(pub.PublishMsg(m) == nil, "publish %d", i)
	}
	flush(pub, "publisher")
	for i, h := range hs {
		m, err := s.NextMsg(5 * time.Second)
		check(err == nil, "message %d: %v", i, err)
		eq(m.Header, h, fmt.Sprintf("header %d", i))
		want := ""
		if i%2 == 0 {
			want = fmt.Sprintf("body-%d", i)
		}
		eq(string(m.Data), want, fmt.Sprintf("body %d", i))
	}
	// Header.Values order is kept for each key.
}

func autoUnsub() {
	pub, sub := connect("go-au-pub"), connect("go-au-sub")
	defer pub.Close()
	defer sub.Close()
	subj := fmt.Sprintf("au.%d", time.Now().UnixNano())
	s, err := sub.SubscribeSync(subj)
	check(err == nil, "subscribe: %v", err)
	check(s.AutoUnsubscribe(5) == nil, "AutoUnsubscribe")
	var cbCount int64
	s2, err := sub.Subscribe(subj, func(m *nats.Msg) { atomic.AddInt64(&cbCount, 1) })
	check(err == nil, "subscribe 2: %v", err)
	check(s2.AutoUnsubscribe(7) == nil, "AutoUnsubscribe 2")
	flush(sub, "subscriber")
	for i := 0; i < 20; i++ {
		check(pub.Publish(subj, []byte(fmt.Sprintf("m%d", i))) == nil, "publish")
	}
	flush(pub, "publisher")
	flush(sub, "subscriber")
	var got []string
	for i := 0; i < 25; i++ {
		m, err := s.NextMsg(200 * time.Millisecond)
		if err != nil {
			break
		}
		got = append(got, string(m.Data))
	}
	eq(got, []string{"m0", "m1", "m2", "m3", "m4"}, "AutoUnsubscribe(5) receives exactly 5")
	waitFor(time.Second, func() bool { return atomic.LoadInt64(&cbCount) >= 7 })
	time.Sleep(100 * time.Millisecond)
	eq(atomic.LoadInt64(&cbCount), int64(7), "AutoUnsubscribe(7) callback count")
	check(!s.IsValid() && !s2.IsValid(), "subscriptions closed after max")
}

func main() {
	if url == "" {
		fmt.Println("SKIP: SLUICE_NATS_URL is not set (run through natsh.py run)")
		os.Exit(77)
	}
	go func() {
		time.Sleep(240 * time.Second)
		fmt.Println("FAIL: nats_go_test: time limit (240 s) exceeded")
		os.Exit(1)
	}()
	fmt.Printf("nats.go %s against %s (%s)\n", nats.Version, url, os.Getenv("SLUICE_NATS_KIND"))
	section("10,000 random payloads 0 B-64 KiB, byte-exact, in order (PUB)", func() { payloadRun(false) })
	section("10,000 random payloads 0 B-64 KiB with headers, byte-exact, in order (HPUB)", func() { payloadRun(true) })
	if os.Getenv("SLUICE_NATS_KIND") != "external" {
		section("wildcards: the §9 subjects exactly", wildcardsUnprefixed)
	}
	section("wildcards under a unique prefix (orders.*, orders.>, *.created, *.>, literal orders.*)", wildcards)
	section("queue group of 2 + a plain subscriber", queueGroup)
	section("1,000 requests (new-style inbox) + headers", requests)
	section("no responders fail fast (ErrNoResponders < 1 s)", noResponders)
	section("headers with repeated keys round-trip", headersRoundTrip)
	section("AutoUnsubscribe(n) receives exactly n", autoUnsub)
	if len(failures) > 0 {
		fmt.Printf("FAIL: nats_go_test: failed sections: %v\n", failures)
		os.Exit(1)
	}
	fmt.Printf("PASS: nats_go_test (%d checks)\n", checks)
}
