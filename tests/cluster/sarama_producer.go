// sarama_producer: an idempotent acks=all sarama 1.22.1 producer (Debian
// golang-github-shopify-sarama-dev) under steady load, for cluster_sarama_failover_test.py, which
// builds it in GOPATH mode (no module proxy here) and starts it as a subprocess.
//
//	sarama_producer BOOTSTRAP TOPIC [INTERVAL_MS [async|sync]]
//
// BOOTSTRAP is a comma-separated host:port list. It produces "sar-0000000", "sar-0000001", ... to
// partition 0 of TOPIC, one every INTERVAL_MS (default 2), until it reads a line "stop" on stdin
// (or stdin ends), then closes the producer (which flushes and waits for every outstanding
// record) and exits 0. async (the default): an AsyncProducer fed at that pace, records queue up
// behind a batch in flight. sync: a SyncProducer, one SendMessage at a time (the next waits for
// the last one's answer, so at most one record is ever on its way). sarama 1.22.1's idempotent
// AsyncProducer, when a batch gets a retriable error code (NOT_LEADER_FOR_PARTITION,
// NOT_ENOUGH_REPLICAS...), retries that batch from a goroutine of its own (retryBatch) while
// the records queued behind it go back through its retry channel: the later ones may reach the
// new leader first, which must refuse them with OUT_OF_ORDER_SEQUENCE_NUMBER as Kafka does, and
// sarama does not retry that error (its issues 1070 and 1430). With nothing queued behind a
// batch the race cannot happen. On stdout, one JSON object per line, as they happen:
//
//	{"ack":"sar-0000007","p":0,"o":7,"ts":T_PRODUCE_NS,"ta":T_ACK_NS}
//	{"fail":"sar-0000008","ts":T_PRODUCE_NS,"err":"kafka server: ..."}
//	{"done":true,"sent":N,"acked":A,"failed":F}
//
// Times are Unix nanoseconds (wall clock, comparable with Python's time.time()). sarama's own log
// goes to stderr.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/Shopify/sarama"
)

type out struct {
	mu              gosync.Mutex
	w               *bufio.Writer
	nacked, nfailed int
}

// Counted under the lock the lines are written under, so the summary agrees with them.
func (o *out) count(ok bool) {
	o.mu.Lock()
	if ok {
		o.nacked++
	} else {
		o.nfailed++
	}
	o.mu.Unlock()
}

func (o *out) acks() int  { o.mu.Lock(); defer o.mu.Unlock(); return o.nacked }
func (o *out) fails() int { o.mu.Lock(); defer o.mu.Unlock(); return o.nfailed }
func (o *out) settled(sent int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.nacked+o.nfailed >= sent
}

func (o *out) line(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	o.mu.Lock()
	o.w.Write(b)
	o.w.WriteByte('\n')
	o.w.Flush()
	o.mu.Unlock()
}

// retryStart calls start until it works (the cluster may still be electing), 50 times at most.
func retryStart(what string, start func() error) {
	for attempt := 0; ; attempt++ {
		err := start()
		if err == nil {
			return
		}
		if attempt >= 50 {
			fmt.Fprintln(os.Stderr, what+":", err)
			os.Exit(1)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: sarama_producer BOOTSTRAP TOPIC [INTERVAL_MS [async|sync]]")
		os.Exit(2)
	}
	sync := len(os.Args) > 4 && os.Args[4] == "sync"
	if len(os.Args) > 4 && !sync && os.Args[4] != "async" {
		fmt.Fprintln(os.Stderr, "the mode is async or sync, not", os.Args[4])
		os.Exit(2)
	}
	brokers := strings.Split(os.Args[1], ",")
	topic := os.Args[2]
	interval := 2 * time.Millisecond
	if len(os.Args) > 3 {
		ms, err := strconv.Atoi(os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad INTERVAL_MS:", err)
			os.Exit(2)
		}
		interval = time.Duration(ms) * time.Millisecond
	}
	sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags|log.Lmicroseconds)

	cfg := sarama.NewConfig()
	cfg.ClientID = "sluice-sarama-failover"
	cfg.Version = sarama.V1_0_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	// sarama 1.22.1 retries an idempotent batch that got a retriable error code (NOT_LEADER...)
	// at once, without the backoff, once per metadata refresh: a failover of a few seconds can
	// take hundreds of attempts. A connection error goes through the backoff.
	cfg.Producer.Retry.Max = 100000
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Timeout = 10 * time.Second
	// One record per Produce request, so one record per batch. sarama 1.22.1 splits a batch that
	// failed on a connection error (the leader killed) into its messages and retries them in
	// batches of a new shape (sarama issues 1070, 1430): the new leader, which may already hold
	// the first of them, sees a batch that is no exact duplicate of one it holds and does not
	// follow its last sequence, and answers OUT_OF_ORDER_SEQUENCE_NUMBER, as Kafka does; sarama
	// does not retry that error and fails the batch and every record after it. A batch of one
	// record keeps its shape across retries.
	cfg.Producer.Flush.MaxMessages = 1
	cfg.Net.MaxOpenRequests = 1
	cfg.Net.DialTimeout = 3 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	cfg.Net.WriteTimeout = 5 * time.Second
	cfg.Metadata.RefreshFrequency = 1 * time.Second
	cfg.Metadata.Retry.Max = 100
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond

	o := &out{w: bufio.NewWriterSize(os.Stdout, 1<<16)}
	stop := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "stop" {
				break
			}
		}
		close(stop)
	}()
	if sync {
		runSync(brokers, topic, cfg, interval, o, stop)
		return
	}

	var producer sarama.AsyncProducer
	retryStart("NewAsyncProducer", func() (err error) {
		producer, err = sarama.NewAsyncProducer(brokers, cfg)
		return err
	})

	var wg gosync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range producer.Successes() {
			ta := time.Now().UnixNano()
			v, _ := m.Value.Encode()
			o.count(true)
			o.line(map[string]interface{}{"ack": string(v), "p": m.Partition, "o": m.Offset,
				"ts": m.Metadata.(int64), "ta": ta})
		}
	}()
	go func() {
		defer wg.Done()
		for e := range producer.Errors() {
			o.count(false)
			if e.Msg == nil || e.Msg.Value == nil {
				// An error sarama reports without its message: counted, not attributable.
				o.line(map[string]interface{}{"fail": "", "ts": int64(0), "err": e.Err.Error()})
				continue
			}
			v, _ := e.Msg.Value.Encode()
			ts, _ := e.Msg.Metadata.(int64)
			o.line(map[string]interface{}{"fail": string(v), "ts": ts, "err": e.Err.Error()})
		}
	}()

	sent := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-tick.C:
		}
		ts := time.Now().UnixNano()
		msg := &sarama.ProducerMessage{Topic: topic, Partition: 0,
			Value: sarama.StringEncoder(fmt.Sprintf("sar-%07d", sent)), Metadata: ts}
		select {
		case producer.Input() <- msg:
			sent++
		case <-stop:
			break loop
		}
	}
	producer.AsyncClose() // flushes: Successes and Errors close once every record is settled
	// sarama 1.22's close can hang after its last record is settled (its retry loop keeps
	// waiting for space on a broker it abandoned): the summary is printed once every record is
	// settled or 30 s have passed, whichever comes first, and the process then exits.
	closed := make(chan struct{})
	go func() { wg.Wait(); close(closed) }()
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case <-closed:
			break wait
		case <-deadline:
			break wait
		case <-time.After(50 * time.Millisecond):
			if o.settled(sent) {
				break wait
			}
		}
	}
	o.line(map[string]interface{}{"done": true, "sent": sent, "acked": o.acks(), "failed": o.fails()})
	os.Exit(0)
}

// runSync: the same records through a SyncProducer, one at a time, with the same lines.
func runSync(brokers []string, topic string, cfg *sarama.Config, interval time.Duration, o *out, stop chan struct{}) {
	var producer sarama.SyncProducer
	retryStart("NewSyncProducer", func() (err error) {
		producer, err = sarama.NewSyncProducer(brokers, cfg)
		return err
	})
	sent := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-tick.C:
		}
		ts := time.Now().UnixNano()
		v := fmt.Sprintf("sar-%07d", sent)
		sent++
		p, off, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0,
			Value: sarama.StringEncoder(v), Metadata: ts})
		o.count(err == nil)
		if err != nil {
			o.line(map[string]interface{}{"fail": v, "ts": ts, "err": err.Error()})
		} else {
			o.line(map[string]interface{}{"ack": v, "p": p, "o": off, "ts": ts, "ta": time.Now().UnixNano()})
		}
	}
	// Nothing is outstanding: each SendMessage returned. Close may hang as AsyncClose can.
	go producer.Close()
	o.line(map[string]interface{}{"done": true, "sent": sent, "acked": o.acks(), "failed": o.fails()})
	os.Exit(0)
}
