// js_cross_go.go: the Go clients of js_kafka_cross_test.py, built by it in GOPATH mode against
// Debian's golang-github-shopify-sarama-dev and golang-github-nats-io-go-nats-dev. Not a test by
// itself: each mode does one client's part and prints what it sent or received as JSON lines on
// stdout, which the Python test compares byte for byte.
//
//	sarama-produce BOOTSTRAP TOPIC PREFIX N   N records in snappy batches (sarama's raw snappy
//	                                          blocks); prints {offset, key, value, headers}
//	nats-consume URL STREAM DURABLE N         a pull consumer (AckExplicit, every message AckSync'd);
//	                                          prints {subject, seq, deliveries, value, headers}
//	nats-publish URL PREFIX N                 js.PublishMsg with headers (repeated keys); prints
//	                                          {subject, seq, value, headers} (headers in the order
//	                                          nats.go writes them: keys sorted, values in order)
//
// Bytes are base64 in JSON; headers are [[key, value], ...]. Exit 0 when the mode did its part,
// 1 otherwise (the reason on stderr). Every wait is bounded.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/Shopify/sarama"
	"github.com/nats-io/nats.go"
)

type record struct {
	Offset     *int64      `json:"offset,omitempty"`
	Subject    string      `json:"subject,omitempty"`
	Seq        uint64      `json:"seq,omitempty"`
	Deliveries uint64      `json:"deliveries,omitempty"`
	Key        *string     `json:"key"`
	Value      string      `json:"value"`
	Headers    [][2]string `json:"headers"`
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "js_cross_go: "+format+"\n", a...)
	os.Exit(1)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func emit(r record) {
	out, err := json.Marshal(r)
	if err != nil {
		die("json: %v", err)
	}
	fmt.Println(string(out))
}

// The i-th record's value: compressible text with a binary tail, so snappy has work to do.
func value(prefix string, i int) []byte {
	v := []byte(fmt.Sprintf("%s value %d ", prefix, i))
	for j := 0; j < i%7*40; j++ {
		v = append(v, "repeat "...)
	}
	return append(v, byte(i), 0, 0xff, '\r', '\n')
}

func saramaProduce(bootstrap, topic, prefix string, n int) {
	c := sarama.NewConfig()
	c.ClientID = "sluice-js-cross"
	c.Version = sarama.V0_11_0_0 // RecordBatch v2, headers
	c.Producer.Compression = sarama.CompressionSnappy
	c.Producer.Flush.Messages = n // one batch when it can
	c.Producer.Flush.Frequency = 20 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.RequiredAcks = sarama.WaitForLocal
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	p, err := sarama.NewAsyncProducer([]string{bootstrap}, c)
	if err != nil {
		die("NewAsyncProducer: %v", err)
	}
	defer p.Close()
	sent := make([]record, n)
	for i := 0; i < n; i++ {
		m := &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.ByteEncoder(value(prefix, i)),
			Metadata: i}
		var key *string
		switch i % 4 {
		case 0, 1:
			k := fmt.Sprintf("%s.%d", prefix, i%3)
			key = &k
		case 2:
			k := "not a subject"
			key = &k
		}
		if key != nil {
			m.Key = sarama.StringEncoder(*key)
		}
		hdrs := [][2]string{}
		if i%2 == 0 {
			hdrs = [][2]string{{"Rep", "a"}, {"Rep", "b"}, {"Idx", strconv.Itoa(i)}, {"Rep", "c"}}
		}
		for _, h := range hdrs {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h[0]), Value: []byte(h[1])})
		}
		sent[i] = record{Value: b64(value(prefix, i)), Headers: hdrs}
		if key != nil {
			k := b64([]byte(*key))
			sent[i].Key = &k
		}
		p.Input() <- m
	}
	deadline := time.After(30 * time.Second)
	for done := 0; done < n; done++ {
		select {
		case ok := <-p.Successes():
			i := ok.Metadata.(int)
			off := ok.Offset
			sent[i].Offset = &off
		case e := <-p.Errors():
			die("produce: %v", e.Err)
		case <-deadline:
			die("only %d of %d produce results within 30 s", done, n)
		}
	}
	for _, r := range sent {
		emit(r)
	}
}

func headerPairs(h nats.Header) [][2]string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := [][2]string{}
	for _, k := range keys {
		for _, v := range h[k] {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

func connect(url string) (*nats.Conn, nats.JetStreamContext) {
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		die("connect %s: %v", url, err)
	}
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		die("JetStream: %v", err)
	}
	return nc, js
}

func natsConsume(url, stream, durable string, n int) {
	nc, js := connect(url)
	defer nc.Close()
	if _, err := js.AddConsumer(stream, &nats.ConsumerConfig{Durable: durable, AckPolicy: nats.AckExplicitPolicy}); err != nil {
		die("AddConsumer: %v", err)
	}
	sub, err := js.PullSubscribe("", durable, nats.Bind(stream, durable))
	if err != nil {
		die("PullSubscribe: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	got := 0
	for got < n && time.Now().Before(deadline) {
		msgs, err := sub.Fetch(n-got, nats.MaxWait(2*time.Second))
		if err != nil && err != nats.ErrTimeout {
			die("Fetch: %v", err)
		}
		for _, m := range msgs {
			md, err := m.Metadata()
			if err != nil {
				die("Metadata: %v", err)
			}
			if err := m.AckSync(); err != nil {
				die("AckSync of seq %d: %v", md.Sequence.Stream, err)
			}
			emit(record{Subject: m.Subject, Seq: md.Sequence.Stream, Deliveries: md.NumDelivered,
				Value: b64(m.Data), Headers: headerPairs(m.Header)})
			got++
		}
	}
	if got != n {
		die("consumed %d of %d within 30 s", got, n)
	}
}

func natsPublish(url, prefix string, n int) {
	nc, js := connect(url)
	defer nc.Close()
	for i := 0; i < n; i++ {
		m := nats.NewMsg(fmt.Sprintf("%s.%d", prefix, i%3))
		m.Data = value(prefix, i)
		if i%3 != 2 {
			m.Header.Add("Rep", "first")
			m.Header.Add("Rep", "second")
			m.Header.Add("Rep", fmt.Sprintf("third %d", i))
			m.Header.Add("Another-Key", "x: y")
		}
		if i%3 == 1 {
			m.Header.Set("Nats-Msg-Id", fmt.Sprintf("%s-%d", prefix, i))
		}
		ack, err := js.PublishMsg(m)
		if err != nil {
			die("PublishMsg %d: %v", i, err)
		}
		emit(record{Subject: m.Subject, Seq: ack.Sequence, Value: b64(m.Data), Headers: headerPairs(m.Header)})
	}
}

func main() {
	if len(os.Args) < 2 {
		die("usage: see the comment at the top of js_cross_go.go")
	}
	argn := func(i int) int {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil {
			die("argument %d: %v", i, err)
		}
		return v
	}
	switch {
	case os.Args[1] == "sarama-produce" && len(os.Args) == 6:
		saramaProduce(os.Args[2], os.Args[3], os.Args[4], argn(5))
	case os.Args[1] == "nats-consume" && len(os.Args) == 6:
		natsConsume(os.Args[2], os.Args[3], os.Args[4], argn(5))
	case os.Args[1] == "nats-publish" && len(os.Args) == 5:
		natsPublish(os.Args[2], os.Args[3], argn(4))
	default:
		die("unknown mode or wrong arguments: %v", os.Args[1:])
	}
}
