// kafka_sarama_test: sarama 1.22.1 (Debian golang-github-shopify-sarama-dev) against the broker at
// $SLUICE_KAFKA_BOOTSTRAP. Built and started by kafka_sarama_test.sh (GOPATH mode, no modules).
//
// Our users' producer settings: Flush.Bytes 512 KiB with Flush.Frequency 10 ms (without a
// frequency the last partial batch never leaves), Retry.Max 3, Snappy, an AsyncProducer with
// Return.Successes. Runs:
//
//	A  Version V0_11_0_0, RequiredAcks WaitForLocal
//	B  Version V0_11_0_0, Idempotent, RequiredAcks WaitForAll, Net.MaxOpenRequests 1
//	C  Version V1_0_0_0 (Metadata v5), same as B
//
// Every success must carry its offset; per partition the offsets are 0..n-1 (in send order when
// idempotent). A sarama Consumer reads each partition from OffsetOldest and every message is
// compared: offset, key, value (nil and empty kept apart), headers, timestamp.
//
// T  transactions: skipped, with the reason printed. Unless the broker advertises EndTxn
// (ApiVersions key 26) there is nothing to test; when it does, sarama 1.22.1 still has no
// transactional producer (sarama has one from 1.37, not in Debian 12), only the raw requests.
// Against librdkafka 2.0.2's mock cluster (which advertises EndTxn) it prints the second reason.
package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"time"

	"github.com/Shopify/sarama"
)

var checks int

type failure struct{ msg string }

func fail(format string, a ...interface{}) { panic(failure{fmt.Sprintf(format, a...)}) }

func check(ok bool, format string, a ...interface{}) {
	checks++
	if !ok {
		fail(format, a...)
	}
}

type msg struct {
	partition int32
	key       []byte
	value     []byte
	headers   []sarama.RecordHeader
	ts        time.Time
	offset    int64
}

func bytesOrNil(b []byte) sarama.Encoder {
	if b == nil {
		return nil
	}
	return sarama.ByteEncoder(b)
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func makeMessages(rng *rand.Rand, n int, nparts int32) []*msg {
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)
	special := []*msg{
		{key: []byte("k0"), value: []byte("first"), headers: []sarama.RecordHeader{
			{Key: []byte("h1"), Value: []byte("a")}, {Key: []byte("h1"), Value: []byte("b")},
			{Key: []byte("nullh"), Value: nil}, {Key: []byte("empty"), Value: []byte{}}}},
		{key: nil, value: []byte("null key")},
		{key: []byte("null value"), value: nil},
		{key: []byte("empty value"), value: []byte{}},
		{key: []byte{}, value: []byte("empty key")},
		{key: []byte("big"), value: bytes.Repeat([]byte("sarama "), 40000)},
	}
	out := make([]*msg, 0, len(special)+n)
	for i := 0; i < len(special)+n; i++ {
		var m *msg
		if i < len(special) {
			m = special[i]
		} else {
			m = &msg{key: []byte(fmt.Sprintf("key-%d", i))}
			m.value = make([]byte, rng.Intn(2000))
			rng.Read(m.value)
			for j := rng.Intn(3); j > 0; j-- {
				v := make([]byte, rng.Intn(16))
				rng.Read(v)
				m.headers = append(m.headers, sarama.RecordHeader{Key: []byte(fmt.Sprintf("h%d", j)), Value: v})
			}
		}
		m.partition = int32(i) % nparts
		// Explicit create times, not in order (negative timestamp deltas inside a batch).
		m.ts = base.Add(time.Duration(i*10+rng.Intn(4000)-2000) * time.Millisecond)
		out = append(out, m)
	}
	return out
}

func config(version sarama.KafkaVersion, idempotent bool) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "sluice-sarama-test"
	c.Version = version
	c.Producer.Flush.Bytes = 512 * 1024
	c.Producer.Flush.Frequency = 10 * time.Millisecond
	c.Producer.Retry.Max = 3
	c.Producer.Compression = sarama.CompressionSnappy
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.MaxMessageBytes = 2 * 1024 * 1024
	c.Producer.RequiredAcks = sarama.WaitForLocal
	if idempotent {
		c.Producer.Idempotent = true
		c.Producer.RequiredAcks = sarama.WaitForAll
		c.Net.MaxOpenRequests = 1
	}
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	return c
}

func run(bootstrap, name string, version sarama.KafkaVersion, idempotent bool, seed int64) {
	cfg := config(version, idempotent)
	check(cfg.Validate() == nil, "config rejected: %v", cfg.Validate())
	client, err := sarama.NewClient([]string{bootstrap}, cfg)
	check(err == nil, "NewClient: %v", err)
	defer client.Close()
	topic := fmt.Sprintf("sarama-%s-%d-%06x", name, os.Getpid(), rand.Int63()&0xffffff)

	// Metadata for the topic auto-creates it; wait (bounded) until it has partitions.
	var parts []int32
	for i := 0; i < 50; i++ {
		if err = client.RefreshMetadata(topic); err == nil {
			if parts, err = client.Partitions(topic); err == nil && len(parts) > 0 {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	check(len(parts) > 0, "topic %s has no partitions: %v", topic, err)
	var addrs []string
	for _, b := range client.Brokers() {
		addrs = append(addrs, b.Addr())
	}
	check(len(addrs) == 1 && addrs[0] == bootstrap, "brokers in metadata: %v", addrs)

	rng := rand.New(rand.NewSource(seed))
	msgs := makeMessages(rng, 400, int32(len(parts)))
	producer, err := sarama.NewAsyncProducerFromClient(client)
	check(err == nil, "NewAsyncProducer: %v", err)
	go func() {
		for i, m := range msgs {
			producer.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: m.partition,
				Key: bytesOrNil(m.key), Value: bytesOrNil(m.value), Headers: m.headers,
				Timestamp: m.ts, Metadata: i}
		}
	}()
	order := make(map[int32][]int) // per partition: message indexes in the order acked
	deadline := time.After(60 * time.Second)
	for n := 0; n < len(msgs); n++ {
		select {
		case s := <-producer.Successes():
			i := s.Metadata.(int)
			check(s.Partition == msgs[i].partition, "message %d acked on partition %d, sent to %d",
				i, s.Partition, msgs[i].partition)
			msgs[i].offset = s.Offset
			order[s.Partition] = append(order[s.Partition], i)
		case e := <-producer.Errors():
			fail("produce error for message %v: %v", e.Msg.Metadata, e.Err)
		case <-deadline:
			fail("only %d of %d messages acked within 60 s", n, len(msgs))
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- producer.Close() }()
	select {
	case err = <-closed:
		check(err == nil, "producer Close: %v", err)
	case <-time.After(20 * time.Second):
		fail("producer Close did not return within 20 s")
	}

	// Offsets per partition: exactly 0..n-1; in send order when idempotent (one request in
	// flight, so also in order for run A on a broker that answers in order).
	for p, idx := range order {
		seen := make(map[int64]bool)
		for j, i := range idx {
			off := msgs[i].offset
			check(off >= 0 && off < int64(len(idx)) && !seen[off], "partition %d: acked offset %d (of %d)",
				p, off, len(idx))
			seen[off] = true
			if idempotent {
				check(off == int64(j), "partition %d: ack %d has offset %d", p, j, off)
			}
		}
	}
	check(len(order) == len(parts), "partitions acked: %d of %d", len(order), len(parts))

	consumer, err := sarama.NewConsumerFromClient(client)
	check(err == nil, "NewConsumer: %v", err)
	defer consumer.Close()
	for _, p := range parts {
		byOffset := make(map[int64]*msg)
		for _, m := range msgs {
			if m.partition == p {
				byOffset[m.offset] = m
			}
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		check(err == nil, "ConsumePartition %d: %v", p, err)
		timeout := time.After(60 * time.Second)
		for next := int64(0); next < int64(len(byOffset)); next++ {
			var got *sarama.ConsumerMessage
			select {
			case got = <-pc.Messages():
			case e := <-pc.Errors():
				fail("consume partition %d: %v", p, e)
			case <-timeout:
				fail("partition %d: read %d of %d messages within 60 s", p, next, len(byOffset))
			}
			want := byOffset[next]
			where := fmt.Sprintf("%s[%d] offset %d", topic, p, next)
			check(got.Offset == next, "%s: got offset %d", where, got.Offset)
			check(got.Topic == topic && got.Partition == p, "%s: got %s[%d]", where, got.Topic, got.Partition)
			check(sameBytes(got.Key, want.key), "%s: key %q, want %q", where, got.Key, want.key)
			check(sameBytes(got.Value, want.value), "%s: value (%d bytes, nil=%v), want %d bytes, nil=%v",
				where, len(got.Value), got.Value == nil, len(want.value), want.value == nil)
			check(len(got.Headers) == len(want.headers), "%s: %d headers, want %d", where,
				len(got.Headers), len(want.headers))
			for h := range want.headers {
				check(sameBytes(got.Headers[h].Key, want.headers[h].Key) &&
					sameBytes(got.Headers[h].Value, want.headers[h].Value),
					"%s: header %d is %q=%q, want %q=%q", where, h, got.Headers[h].Key,
					got.Headers[h].Value, want.headers[h].Key, want.headers[h].Value)
			}
			check(got.Timestamp.Equal(want.ts), "%s: timestamp %v, want %v", where, got.Timestamp, want.ts)
		}
		// Nothing past what was produced.
		select {
		case extra := <-pc.Messages():
			fail("partition %d: unexpected message at offset %d", p, extra.Offset)
		case <-time.After(300 * time.Millisecond):
		}
		check(pc.Close() == nil, "partition consumer %d close", p)
	}
}

func main() {
	bootstrap := os.Getenv("SLUICE_KAFKA_BOOTSTRAP")
	if bootstrap == "" {
		fmt.Println("kafka_sarama_test: SLUICE_KAFKA_BOOTSTRAP is not set (run kafka_sarama_test.sh)")
		os.Exit(2)
	}
	rand.Seed(time.Now().UnixNano())
	runs := []struct {
		name       string
		version    sarama.KafkaVersion
		idempotent bool
	}{
		{"A-v0.11-acks1", sarama.V0_11_0_0, false},
		{"B-v0.11-idempotent", sarama.V0_11_0_0, true},
		{"C-v1.0-idempotent", sarama.V1_0_0_0, true},
	}
	failed := 0
	fmt.Printf("---- run T-transactions\n")
	fmt.Printf("     skipped: %s\n", txnSkipReason(bootstrap))
	for i, r := range runs {
		fmt.Printf("---- run %s\n", r.name)
		start := time.Now()
		func() {
			defer func() {
				if e := recover(); e != nil {
					f, ok := e.(failure)
					if !ok {
						panic(e)
					}
					failed++
					fmt.Printf("FAIL [run %s]: %s\n", r.name, f.msg)
				}
			}()
			run(bootstrap, r.name, r.version, r.idempotent, int64(i+1))
			fmt.Printf("     ok (%.1f s)\n", time.Since(start).Seconds())
		}()
	}
	if failed > 0 {
		fmt.Printf("FAIL: kafka_sarama_test: %d of %d runs failed\n", failed, len(runs))
		os.Exit(1)
	}
	fmt.Printf("PASS: kafka_sarama_test (%d checks)\n", checks)
}

// txnSkipReason says why the transactions run is skipped (see T in the header).
func txnSkipReason(bootstrap string) string {
	b := sarama.NewBroker(bootstrap)
	c := sarama.NewConfig()
	c.Version = sarama.V1_0_0_0
	if err := b.Open(c); err != nil {
		return "cannot connect: " + err.Error()
	}
	defer b.Close()
	res, err := b.ApiVersions(&sarama.ApiVersionsRequest{})
	if err != nil {
		return "ApiVersions failed: " + err.Error()
	}
	for _, k := range res.ApiVersions {
		if k.ApiKey == 26 {
			return "the broker advertises EndTxn, but sarama 1.22.1 (Debian) has no transactional producer (sarama 1.37+)"
		}
	}
	return "the broker does not advertise EndTxn (ApiVersions key 26)"
}
