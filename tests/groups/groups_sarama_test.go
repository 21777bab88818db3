// groups_sarama_test: sarama 1.22.1 (Debian golang-github-shopify-sarama-dev) ConsumerGroup
// against the broker at $SLUICE_KAFKA_BOOTSTRAP. Built and started by groups_sarama_test.sh
// (GOPATH mode, no modules).
//
// Our users' settings: Version V1_0_0_0, Consumer.Group.Session.Timeout 6000 ms,
// Heartbeat.Interval 2000 ms, Offsets.Initial OffsetOldest, MarkMessage + the offset manager's
// commits (every 500 ms and when a session ends). For Rebalance.Strategy Range, then RoundRobin
// (1.22.1 has no sticky strategy), on a fresh 4-partition topic:
//
//  1. 200 messages; member M1 consumes them alone;
//  2. M2 joins (both get claims); 200 more messages;
//  3. M1 leaves (session end commits, Close sends LeaveGroup); M2 takes everything; 100 more;
//  4. M2 leaves. Every message so far was consumed exactly once, key and value exact;
//  5. 100 more; the group restarts with two new members: they get exactly those 100, each
//     partition starting at the offset the group had committed (no re-delivery), and the
//     committed offsets end at the end offsets.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

const partitions = 4

var checks int

type failure struct{ msg string }

func fail(format string, a ...interface{}) { panic(failure{fmt.Sprintf(format, a...)}) }

func check(ok bool, format string, a ...interface{}) {
	checks++
	if !ok {
		fail(format, a...)
	}
}

type pkey struct {
	p   int32
	off int64
}

type kv struct{ key, value []byte }

type rec struct {
	member string
	p      int32
	off    int64
	key    []byte
	value  []byte
}

// state shared by every member of one run
type world struct {
	mu       sync.Mutex
	consumed []rec
	claims   map[string][]int32 // member -> partitions of its current session
	sessions map[string]int     // member -> sessions started
	errors   []string
}

func (w *world) distinct() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[pkey]bool{}
	for _, r := range w.consumed {
		seen[pkey{r.p, r.off}] = true
	}
	return len(seen)
}

type handler struct {
	name  string
	topic string
	w     *world
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	h.w.mu.Lock()
	ps := append([]int32(nil), s.Claims()[h.topic]...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	h.w.claims[h.name] = ps
	h.w.sessions[h.name]++
	h.w.mu.Unlock()
	return nil
}

func (h *handler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.w.mu.Lock()
	h.w.claims[h.name] = nil
	h.w.mu.Unlock()
	return nil
}

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.w.mu.Lock()
		h.w.consumed = append(h.w.consumed, rec{h.name, m.Partition, m.Offset,
			append([]byte(nil), m.Key...), append([]byte(nil), m.Value...)})
		h.w.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

type member struct {
	name   string
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}
}

func config(name string, strategy sarama.BalanceStrategy) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = name
	cfg.Version = sarama.V1_0_0_0
	cfg.Consumer.Group.Session.Timeout = 6000 * time.Millisecond
	cfg.Consumer.Group.Heartbeat.Interval = 2000 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Strategy = strategy
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.CommitInterval = 500 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	return cfg
}

func startMember(bootstrap, groupID, topic, name string, strategy sarama.BalanceStrategy, w *world) *member {
	g, err := sarama.NewConsumerGroup([]string{bootstrap}, groupID, config(name, strategy))
	check(err == nil, "%s: NewConsumerGroup: %v", name, err)
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, group: g, cancel: cancel, done: make(chan struct{})}
	go func() {
		for e := range g.Errors() {
			w.mu.Lock()
			w.errors = append(w.errors, fmt.Sprintf("%s: %v", name, e))
			w.mu.Unlock()
		}
	}()
	go func() {
		defer close(m.done)
		h := &handler{name, topic, w}
		deadline := time.Now().Add(120 * time.Second)
		for ctx.Err() == nil && time.Now().Before(deadline) {
			if err := g.Consume(ctx, []string{topic}, h); err != nil {
				w.mu.Lock()
				w.errors = append(w.errors, fmt.Sprintf("%s: Consume: %v", name, err))
				w.mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return m
}

// stop ends the session (its offsets are committed on release), then Close leaves the group.
func (m *member) stop() {
	m.cancel()
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		fail("%s: Consume did not return within 30 s of cancel", m.name)
	}
	check(m.group.Close() == nil, "%s: Close failed", m.name)
}

func waitFor(what string, timeout time.Duration, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			fail("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func produce(p sarama.SyncProducer, topic string, from, n int, sent map[pkey]kv) {
	for i := from; i < from+n; i++ {
		k := []byte(fmt.Sprintf("sarama-key-%05d", i))
		v := append([]byte(fmt.Sprintf("sarama-value-%05d-", i)), bytes.Repeat([]byte{byte(i % 251)}, i%77)...)
		part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(k),
			Value: sarama.ByteEncoder(v)})
		check(err == nil, "produce %d: %v", i, err)
		sent[pkey{part, off}] = kv{k, v}
	}
}

// exactlyOnce: every message of `want` consumed once (content exact), nothing else.
func exactlyOnce(what string, got []rec, want map[pkey]kv) {
	seen := map[pkey]string{}
	for _, r := range got {
		k := pkey{r.p, r.off}
		w, ok := want[k]
		check(ok, "%s: %s consumed partition %d offset %d, not expected", what, r.member, r.p, r.off)
		check(bytes.Equal(r.key, w.key) && bytes.Equal(r.value, w.value),
			"%s: partition %d offset %d: key/value %q/%q, want %q/%q", what, r.p, r.off, r.key, r.value, w.key, w.value)
		first, dup := seen[k]
		check(!dup, "%s: partition %d offset %d consumed twice (%s, then %s)", what, r.p, r.off, first, r.member)
		seen[k] = r.member
	}
	check(len(seen) == len(want), "%s: %d of %d messages consumed", what, len(seen), len(want))
}

func ends(sent map[pkey]kv) map[int32]int64 {
	out := map[int32]int64{}
	for p := int32(0); p < partitions; p++ {
		out[p] = 0
	}
	for k := range sent {
		if k.off+1 > out[k.p] {
			out[k.p] = k.off + 1
		}
	}
	return out
}

func run(bootstrap, label string, strategy sarama.BalanceStrategy) {
	suffix := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1000000)
	topic := "grp-sarama-" + label + "-" + suffix
	groupID := "g-sarama-" + label + "-" + suffix

	acfg := sarama.NewConfig()
	acfg.Version = sarama.V1_0_0_0
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, acfg)
	check(err == nil, "NewClusterAdmin: %v", err)
	defer admin.Close()
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	check(err == nil, "CreateTopic: %v", err)

	pcfg := sarama.NewConfig()
	pcfg.Version = sarama.V1_0_0_0
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	pcfg.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer([]string{bootstrap}, pcfg)
	check(err == nil, "NewSyncProducer: %v", err)
	defer prod.Close()

	w := &world{claims: map[string][]int32{}, sessions: map[string]int{}}
	sent := map[pkey]kv{}
	claimsOf := func(n string) []int32 { w.mu.Lock(); defer w.mu.Unlock(); return w.claims[n] }
	sessionsOf := func(n string) int { w.mu.Lock(); defer w.mu.Unlock(); return w.sessions[n] }

	produce(prod, topic, 0, 200, sent)
	t0 := time.Now()
	m1 := startMember(bootstrap, groupID, topic, "M1", strategy, w)
	waitFor(label+": M1 consumes the first 200", 30*time.Second, func() bool { return w.distinct() >= 200 })
	fmt.Printf("     %s: M1 alone: claims %v, first 200 consumed after %v\n", label, claimsOf("M1"),
		time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	s1 := sessionsOf("M1")
	m2 := startMember(bootstrap, groupID, topic, "M2", strategy, w)
	waitFor(label+": rebalance after M2 joined", 30*time.Second, func() bool {
		return sessionsOf("M1") > s1 && len(claimsOf("M1")) > 0 && len(claimsOf("M2")) > 0 &&
			len(claimsOf("M1"))+len(claimsOf("M2")) == partitions
	})
	fmt.Printf("     %s: M2 joined: M1 %v, M2 %v after %v\n", label, claimsOf("M1"), claimsOf("M2"),
		time.Since(t0).Round(time.Millisecond))
	produce(prod, topic, 200, 200, sent)
	waitFor(label+": 400 consumed", 30*time.Second, func() bool { return w.distinct() >= 400 })

	t0 = time.Now()
	s2 := sessionsOf("M2")
	m1.stop()
	waitFor(label+": M2 takes every partition after M1 left", 30*time.Second, func() bool {
		return sessionsOf("M2") > s2 && len(claimsOf("M2")) == partitions
	})
	fmt.Printf("     %s: M1 left: M2 %v after %v\n", label, claimsOf("M2"), time.Since(t0).Round(time.Millisecond))
	produce(prod, topic, 400, 100, sent)
	waitFor(label+": 500 consumed", 30*time.Second, func() bool { return w.distinct() >= 500 })
	time.Sleep(500 * time.Millisecond)
	m2.stop()

	w.mu.Lock()
	check(len(w.errors) == 0, "%s: consumer group errors: %v", label, w.errors)
	got := append([]rec(nil), w.consumed...)
	w.mu.Unlock()
	exactlyOnce(label+": phase 1", got, sent)
	perMember := map[string]int{}
	for _, r := range got {
		perMember[r.member]++
	}
	fmt.Printf("     %s: 500 messages consumed exactly once %v\n", label, perMember)

	// The committed offsets are the end offsets.
	committed := func() map[int32]int64 {
		resp, err := admin.ListConsumerGroupOffsets(groupID, map[string][]int32{topic: {0, 1, 2, 3}})
		check(err == nil, "ListConsumerGroupOffsets: %v", err)
		out := map[int32]int64{}
		for p := int32(0); p < partitions; p++ {
			b := resp.GetBlock(topic, p)
			check(b != nil && b.Err == sarama.ErrNoError, "offset fetch %d: %+v", p, b)
			out[p] = b.Offset
		}
		return out
	}
	want := ends(sent)
	gotOff := committed()
	check(fmt.Sprint(gotOff) == fmt.Sprint(want), "%s: committed %v, want %v", label, gotOff, want)

	// Restart the group: only the new messages, from the committed offsets.
	before := want
	fresh := map[pkey]kv{}
	produce(prod, topic, 500, 100, fresh)
	w2 := &world{claims: map[string][]int32{}, sessions: map[string]int{}}
	m3 := startMember(bootstrap, groupID, topic, "M3", strategy, w2)
	m4 := startMember(bootstrap, groupID, topic, "M4", strategy, w2)
	waitFor(label+": restarted group consumes the 100 new messages", 30*time.Second,
		func() bool { return w2.distinct() >= 100 })
	time.Sleep(2 * time.Second) // a re-delivery would show up now
	m3.stop()
	m4.stop()
	w2.mu.Lock()
	check(len(w2.errors) == 0, "%s: consumer group errors after restart: %v", label, w2.errors)
	got2 := append([]rec(nil), w2.consumed...)
	w2.mu.Unlock()
	exactlyOnce(label+": after restart", got2, fresh)
	first := map[int32]int64{}
	for _, r := range got2 {
		if f, ok := first[r.p]; !ok || r.off < f {
			first[r.p] = r.off
		}
	}
	for p, off := range first {
		check(off == before[p], "%s: restarted group began partition %d at %d, committed was %d", label, p, off, before[p])
	}
	all := map[pkey]kv{}
	for k, v := range sent {
		all[k] = v
	}
	for k, v := range fresh {
		all[k] = v
	}
	want = ends(all)
	gotOff = committed()
	check(fmt.Sprint(gotOff) == fmt.Sprint(want), "%s: committed after restart %v, want %v", label, gotOff, want)
	fmt.Printf("     %s: restart resumed at %v, got exactly the 100 new messages\n", label, first)
}

func main() {
	bootstrap := os.Getenv("SLUICE_KAFKA_BOOTSTRAP")
	if bootstrap == "" {
		fmt.Println("groups_sarama_test: SLUICE_KAFKA_BOOTSTRAP is not set (run through groups_sarama_test.sh)")
		os.Exit(2)
	}
	timer := time.AfterFunc(200*time.Second, func() {
		fmt.Println("FAIL: groups_sarama_test: time limit (200 s) exceeded")
		os.Exit(1)
	})
	defer timer.Stop()
	failed := []string{}
	for _, s := range []struct {
		label    string
		strategy sarama.BalanceStrategy
	}{{"range", sarama.BalanceStrategyRange}, {"roundrobin", sarama.BalanceStrategyRoundRobin}} {
		fmt.Printf("---- %s\n", s.label)
		t0 := time.Now()
		func() {
			defer func() {
				if r := recover(); r != nil {
					f, ok := r.(failure)
					if !ok {
						panic(r)
					}
					fmt.Printf("FAIL [%s]: %s\n", s.label, f.msg)
					failed = append(failed, s.label)
				}
			}()
			run(bootstrap, s.label, s.strategy)
			fmt.Printf("     ok (%.1f s)\n", time.Since(t0).Seconds())
		}()
	}
	if len(failed) > 0 {
		fmt.Printf("FAIL: groups_sarama_test: failed sections: %s\n", strings.Join(failed, ", "))
		os.Exit(1)
	}
	fmt.Printf("PASS: groups_sarama_test (%d checks)\n", checks)
}
