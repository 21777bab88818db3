// js_bench.go: the JetStream load generator for bench/run_js.sh, written with nats.go (Debian's
// golang-github-nats-io-go-nats-dev, GOPATH mode), so the figures are what a nats.go user sees.
// One scenario per run; it prints one line "RESULT k=v ..." that run_js.sh parses.
//
//   js_bench -url nats://127.0.0.1:4222 -mode pub      -size 128 -seconds 2
//   js_bench -url ... -mode consume  -size 128 -count 200000   (publishes the backlog first)
//   js_bench -url ... -mode pubsub   -size 128 -seconds 2
//   js_bench -url ... -mode e2e      -size 128 -rate 10000 -seconds 3
//
// Every scenario uses our users' settings: a work-queue stream on file storage (MaxAge 24 h),
// PublishAsyncMaxPending(256), pull consumers with AckExplicit and batches of 256. Each run
// creates its own stream (deleted at the end), so runs do not see each other's data.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

var (
	url     = flag.String("url", nats.DefaultURL, "server URL")
	mode    = flag.String("mode", "pub", "pub | consume | pubsub | e2e")
	size    = flag.Int("size", 128, "payload bytes")
	seconds = flag.Float64("seconds", 2, "measured time (pub, pubsub, e2e)")
	count   = flag.Int("count", 200000, "backlog size (consume)")
	rate    = flag.Int("rate", 10000, "messages per second (e2e)")
	batch   = flag.Int("batch", 256, "pull batch")
	pending = flag.Int("pending", 256, "PublishAsyncMaxPending")
	name    = flag.String("stream", "BENCH", "stream name")
	pid     = flag.Int("pid", 0, "server process whose CPU and RSS are reported over the measured interval")
)

// cpuTicks reads the server's utime+stime (clock ticks, 100 per second on Linux) from
// /proc/PID/stat; fields counted after the ")" that ends the command name.
func cpuTicks() int64 {
	if *pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", *pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func rssKB() int64 {
	if *pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", *pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			v, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return v
		}
	}
	return 0
}

// selfCPU is this process's own user+system CPU time: nats.go's cost, which bounds a row when
// the client, not the server, is what runs out.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// meter reports the server CPU (% of one core) over the interval since it was made, and the
// client's own (clientCPU).
type meter struct {
	t0    time.Time
	ticks int64
	self  time.Duration
}

func startMeter() meter { return meter{time.Now(), cpuTicks(), selfCPU()} }

func (m meter) cpu() float64 {
	el := time.Since(m.t0).Seconds()
	return float64(cpuTicks()-m.ticks) / 100.0 / el * 100.0
}

func (m meter) clientCPU() float64 {
	el := time.Since(m.t0).Seconds()
	return (selfCPU() - m.self).Seconds() / el * 100.0
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "js_bench: "+format+"\n", a...)
	os.Exit(1)
}

func connect() (*nats.Conn, nats.JetStreamContext) {
	nc, err := nats.Connect(*url, nats.Timeout(5*time.Second))
	if err != nil {
		die("connect: %v", err)
	}
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(*pending))
	if err != nil {
		die("jetstream: %v", err)
	}
	return nc, js
}

func addStream(js nats.JetStreamContext) {
	_ = js.DeleteStream(*name)
	_, err := js.AddStream(&nats.StreamConfig{
		Name: *name, Subjects: []string{*name + ".*"},
		Retention: nats.WorkQueuePolicy, MaxAge: 24 * time.Hour, Storage: nats.FileStorage,
	})
	if err != nil {
		die("add stream: %v", err)
	}
}

// publish sends until stop is closed (or n messages when n > 0) and returns how many were
// acknowledged. The first 8 bytes of each payload carry the send time (e2e uses it).
func publish(js nats.JetStreamContext, n int, stop <-chan struct{}, paceEvery time.Duration) int {
	subj := *name + ".orders"
	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	sent := 0
	next := time.Now()
	for n == 0 || sent < n {
		if stop != nil {
			select {
			case <-stop:
				goto done
			default:
			}
		}
		if paceEvery > 0 {
			next = next.Add(paceEvery)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
		msg := make([]byte, len(payload))
		copy(msg, payload)
		if len(msg) >= 8 {
			binary.LittleEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		}
		if _, err := js.PublishAsync(subj, msg); err != nil {
			die("publish async: %v", err)
		}
		sent++
	}
done:
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		die("publish: %d acks missing after 30 s", js.PublishAsyncPending())
	}
	return sent
}

// consume pulls with AckExplicit until n messages were acked or stop is closed; it returns the
// count and, when lat is non-nil, appends each message's send-to-receive latency.
func consume(js nats.JetStreamContext, n int, stop <-chan struct{}, lat *[]time.Duration) int {
	sub, err := js.PullSubscribe(*name+".orders", "WORKER", nats.AckExplicit(), nats.BindStream(*name))
	if err != nil {
		die("pull subscribe: %v", err)
	}
	got := 0
	for n == 0 || got < n {
		if stop != nil {
			select {
			case <-stop:
				return got
			default:
			}
		}
		want := *batch
		if n > 0 && n-got < want {
			want = n - got
		}
		msgs, err := sub.Fetch(want, nats.MaxWait(500*time.Millisecond))
		if err != nil && err != nats.ErrTimeout {
			die("fetch: %v", err)
		}
		now := time.Now().UnixNano()
		for _, m := range msgs {
			if len(m.Data) != *size {
				die("message of %d bytes, want %d", len(m.Data), *size)
			}
			if lat != nil && len(m.Data) >= 8 {
				*lat = append(*lat, time.Duration(now-int64(binary.LittleEndian.Uint64(m.Data))))
			}
			if err := m.Ack(); err != nil {
				die("ack: %v", err)
			}
			got++
		}
	}
	return got
}

func pct(l []time.Duration, p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	i := int(float64(len(l)-1) * p)
	return float64(l[i].Microseconds())
}

func main() {
	flag.Parse()
	nc, js := connect()
	defer nc.Close()
	addStream(js)
	defer func() { _ = js.DeleteStream(*name) }()
	dur := time.Duration(*seconds * float64(time.Second))

	switch *mode {
	case "pub":
		stop := make(chan struct{})
		time.AfterFunc(dur, func() { close(stop) })
		t0, m := time.Now(), startMeter()
		n := publish(js, 0, stop, 0)
		el, cpu, ccpu := time.Since(t0).Seconds(), m.cpu(), m.clientCPU()
		fmt.Printf("RESULT mode=pub msgs=%d secs=%.3f rate=%.0f cpu_pct=%.1f client_cpu_pct=%.1f rss_kb=%d\n", n, el, float64(n)/el, cpu, ccpu, rssKB())
	case "consume":
		publish(js, *count, nil, 0)
		t0, m := time.Now(), startMeter()
		n := consume(js, *count, nil, nil)
		el, cpu, ccpu := time.Since(t0).Seconds(), m.cpu(), m.clientCPU()
		// Acks are fire-and-forget publishes: give the server a moment to apply the last ones.
		var left uint64
		for i := 0; i < 100; i++ {
			info, err := js.StreamInfo(*name)
			if err != nil {
				die("stream info: %v", err)
			}
			if left = info.State.Msgs; left == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if left != 0 {
			die("stream holds %d messages after the work queue was drained", left)
		}
		fmt.Printf("RESULT mode=consume msgs=%d secs=%.3f rate=%.0f cpu_pct=%.1f client_cpu_pct=%.1f rss_kb=%d\n", n, el, float64(n)/el, cpu, ccpu, rssKB())
	case "pubsub":
		// A second connection consumes, as a worker would.
		nc2, js2 := connect()
		defer nc2.Close()
		stop := make(chan struct{})
		var got int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			atomic.StoreInt64(&got, int64(consume(js2, 0, stop, nil)))
		}()
		time.Sleep(100 * time.Millisecond)
		t0, m := time.Now(), startMeter()
		pstop := make(chan struct{})
		time.AfterFunc(dur, func() { close(pstop) })
		n := publish(js, 0, pstop, 0)
		el, cpu, ccpu := time.Since(t0).Seconds(), m.cpu(), m.clientCPU()
		time.Sleep(200 * time.Millisecond)
		close(stop)
		wg.Wait()
		c := atomic.LoadInt64(&got)
		fmt.Printf("RESULT mode=pubsub msgs=%d consumed=%d secs=%.3f rate=%.0f cpu_pct=%.1f client_cpu_pct=%.1f rss_kb=%d\n", n, c, el, float64(n)/el, cpu, ccpu, rssKB())
	case "e2e":
		nc2, js2 := connect()
		defer nc2.Close()
		// A push consumer (AckExplicit, acked at once): nats.go's Fetch holds a long poll
		// until its whole batch is there, which would measure the batch, not the broker.
		lat := make([]time.Duration, 0, int(float64(*rate)**seconds)+16)
		var mu sync.Mutex
		got := 0
		sub, err := js2.Subscribe(*name+".orders", func(m *nats.Msg) {
			now := time.Now().UnixNano()
			mu.Lock()
			if len(m.Data) >= 8 {
				lat = append(lat, time.Duration(now-int64(binary.LittleEndian.Uint64(m.Data))))
			}
			got++
			mu.Unlock()
			_ = m.Ack()
		}, nats.Durable("WORKER"), nats.AckExplicit(), nats.ManualAck(), nats.BindStream(*name))
		if err != nil {
			die("subscribe: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		n := int(float64(*rate) * *seconds)
		m := startMeter()
		publish(js, n, nil, time.Second/time.Duration(*rate))
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			info, err := js.ConsumerInfo(*name, "WORKER")
			if err == nil && info.NumAckPending == 0 && info.NumPending == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = sub.Unsubscribe()
		mu.Lock()
		defer mu.Unlock()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		cpu := m.cpu()
		fmt.Printf("RESULT mode=e2e msgs=%d consumed=%d p50_us=%.0f p99_us=%.0f p999_us=%.0f cpu_pct=%.1f rss_kb=%d\n",
			n, got, pct(lat, 0.50), pct(lat, 0.99), pct(lat, 0.999), cpu, rssKB())
	default:
		die("unknown mode %q", *mode)
	}
}
