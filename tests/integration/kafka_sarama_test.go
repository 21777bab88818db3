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
// T  transactions, skipped (with the reason printed) unless the broker advertises EndTxn
// (ApiVersions key 26). sarama 1.22.1 has no transactional producer (it came in 1.37, not in
// Debian 12), so this run drives a transaction with sarama's own request types: FindCoordinator
// (transaction), InitProducerId with a transactional id, AddPartitionsToTxn, a transactional
// RecordBatch in Produce v3, EndTxn. Three transactions on partition 0: commit [c0 c1], abort
// [a0], commit [c2]; Kafka puts them at offsets 0-1, 3, 5 (a marker after each). A sarama
// Consumer with IsolationLevel ReadCommitted must read c0 c1 c2 at 0, 1, 5 and one with
// ReadUncommitted all four. On librdkafka 2.0.2's mock cluster (SLUICE_PEER=mock), which writes
// no markers and lists no aborted transactions, the offsets are 0-1, 2, 3 and both read all four.
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
	func() {
		fmt.Printf("---- run T-transactions\n")
		start := time.Now()
		defer func() {
			if e := recover(); e != nil {
				f, ok := e.(failure)
				if !ok {
					panic(e)
				}
				failed++
				fmt.Printf("FAIL [run T-transactions]: %s\n", f.msg)
			}
		}()
		if !advertisesEndTxn(bootstrap) {
			fmt.Printf("     skipped: the broker does not advertise EndTxn (ApiVersions key 26)\n")
			return
		}
		runTxn(bootstrap, os.Getenv("SLUICE_PEER") == "mock")
		fmt.Printf("     ok (%.1f s)\n", time.Since(start).Seconds())
	}()
	if failed > 0 {
		fmt.Printf("FAIL: kafka_sarama_test: %d of %d runs failed\n", failed, len(runs)+1)
		os.Exit(1)
	}
	fmt.Printf("PASS: kafka_sarama_test (%d checks)\n", checks)
}

func advertisesEndTxn(bootstrap string) bool {
	b := sarama.NewBroker(bootstrap)
	c := sarama.NewConfig()
	c.Version = sarama.V1_0_0_0
	check(b.Open(c) == nil, "ApiVersions: open")
	defer b.Close()
	res, err := b.ApiVersions(&sarama.ApiVersionsRequest{})
	check(err == nil, "ApiVersions: %v", err)
	for _, k := range res.ApiVersions {
		if k.ApiKey == 26 {
			return true
		}
	}
	return false
}

// retriable reports the coordinator errors a client waits out (bounded by its caller).
func retriable(e sarama.KError) bool {
	return e == sarama.ErrConcurrentTransactions || e == sarama.ErrOffsetsLoadInProgress ||
		e == sarama.ErrConsumerCoordinatorNotAvailable
}

// runTxn: see T in the header.
func runTxn(bootstrap string, mock bool) {
	conf := sarama.NewConfig()
	conf.Version = sarama.V0_11_0_0 // the mock answers Metadata up to v2 (sarama asks v5 from 1.0 on)
	conf.Consumer.Return.Errors = true
	topic := fmt.Sprintf("sarama-txn-%d-%x", os.Getpid(), rand.Int31())
	txid := topic + "-txid"

	client, err := sarama.NewClient([]string{bootstrap}, conf)
	check(err == nil, "client: %v", err)
	defer client.Close()
	var leader *sarama.Broker
	for i := 0; i < 50 && leader == nil; i++ { // the Metadata request auto-creates the topic
		_ = client.RefreshMetadata(topic)
		if leader, err = client.Leader(topic, 0); err != nil {
			leader = nil
			time.Sleep(100 * time.Millisecond)
		}
	}
	check(leader != nil, "no leader for %s partition 0 within 5 s", topic)

	var coord *sarama.Broker
	for i := 0; i < 50 && coord == nil; i++ {
		fc, err := leader.FindCoordinator(&sarama.FindCoordinatorRequest{Version: 1,
			CoordinatorKey: txid, CoordinatorType: sarama.CoordinatorTransaction})
		check(err == nil, "FindCoordinator: %v", err)
		if fc.Err == sarama.ErrNoError {
			coord = fc.Coordinator
		} else {
			check(retriable(fc.Err), "FindCoordinator: %v", fc.Err)
			time.Sleep(100 * time.Millisecond)
		}
	}
	check(coord != nil, "no transaction coordinator within 5 s")
	check(coord.Open(conf) == nil, "open the coordinator")
	defer coord.Close()

	var pid int64
	var epoch int16
	for i := 0; ; i++ {
		ip, err := coord.InitProducerID(&sarama.InitProducerIDRequest{TransactionalID: &txid,
			TransactionTimeout: 60 * time.Second})
		check(err == nil, "InitProducerId: %v", err)
		if ip.Err == sarama.ErrNoError {
			pid, epoch = ip.ProducerID, ip.ProducerEpoch
			break
		}
		check(retriable(ip.Err) && i < 50, "InitProducerId: %v", ip.Err)
		time.Sleep(100 * time.Millisecond)
	}

	seq := int32(0)
	txn := func(values []string, commit bool) int64 {
		for i := 0; ; i++ { // the previous transaction's markers may still be going out
			ap, err := coord.AddPartitionsToTxn(&sarama.AddPartitionsToTxnRequest{
				TransactionalID: txid, ProducerID: pid, ProducerEpoch: epoch,
				TopicPartitions: map[string][]int32{topic: {0}}})
			check(err == nil, "AddPartitionsToTxn: %v", err)
			perr := ap.Errors[topic]
			check(len(perr) == 1, "AddPartitionsToTxn: %d partition answers", len(perr))
			if perr[0].Err == sarama.ErrNoError {
				break
			}
			check(retriable(perr[0].Err) && i < 100, "AddPartitionsToTxn: %v", perr[0].Err)
			time.Sleep(20 * time.Millisecond)
		}
		now := time.Now().Truncate(time.Millisecond)
		batch := &sarama.RecordBatch{Version: 2, FirstTimestamp: now, MaxTimestamp: now,
			ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq, IsTransactional: true,
			LastOffsetDelta: int32(len(values) - 1)}
		for i, v := range values {
			batch.Records = append(batch.Records, &sarama.Record{OffsetDelta: int64(i), Value: []byte(v)})
		}
		seq += int32(len(values))
		req := &sarama.ProduceRequest{TransactionalID: &txid, RequiredAcks: sarama.WaitForAll,
			Timeout: 10000, Version: 3}
		req.AddBatch(topic, 0, batch)
		pr, err := leader.Produce(req)
		check(err == nil, "Produce: %v", err)
		blk := pr.GetBlock(topic, 0)
		check(blk != nil && blk.Err == sarama.ErrNoError, "Produce: %+v", blk)
		et, err := coord.EndTxn(&sarama.EndTxnRequest{TransactionalID: txid, ProducerID: pid,
			ProducerEpoch: epoch, TransactionResult: commit})
		check(err == nil && et.Err == sarama.ErrNoError, "EndTxn(commit=%v): %v %v", commit, err, et)
		return blk.Offset
	}
	bases := []int64{txn([]string{"c0", "c1"}, true), txn([]string{"a0"}, false), txn([]string{"c2"}, true)}
	type rec struct {
		off int64
		val string
	}
	all := []rec{{0, "c0"}, {1, "c1"}, {3, "a0"}, {5, "c2"}}
	committed := []rec{{0, "c0"}, {1, "c1"}, {5, "c2"}}
	wantBases := []int64{0, 3, 5}
	if mock {
		all = []rec{{0, "c0"}, {1, "c1"}, {2, "a0"}, {3, "c2"}}
		committed = all
		wantBases = []int64{0, 2, 3}
	}
	check(fmt.Sprint(bases) == fmt.Sprint(wantBases), "base offsets %v, want %v", bases, wantBases)

	read := func(iso sarama.IsolationLevel, want int) []rec {
		c := sarama.NewConfig()
		c.Version = sarama.V0_11_0_0 // Fetch v4: isolation level
		c.Consumer.IsolationLevel = iso
		c.Consumer.Return.Errors = true
		cons, err := sarama.NewConsumer([]string{bootstrap}, c)
		check(err == nil, "consumer: %v", err)
		defer cons.Close()
		pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
		check(err == nil, "ConsumePartition: %v", err)
		defer pc.Close()
		var got []rec
		// Wait for `want` records, then 500 ms more for any that should not be there.
		deadline := time.After(10 * time.Second)
		for {
			wait := 10 * time.Second
			if len(got) >= want {
				wait = 500 * time.Millisecond
			}
			select {
			case m := <-pc.Messages():
				got = append(got, rec{m.Offset, string(m.Value)})
				continue
			case e := <-pc.Errors():
				fail("consume: %v", e)
			case <-deadline:
			case <-time.After(wait):
			}
			return got
		}
	}
	gotC := read(sarama.ReadCommitted, len(committed))
	check(fmt.Sprint(gotC) == fmt.Sprint(committed), "ReadCommitted: %v, want %v", gotC, committed)
	gotU := read(sarama.ReadUncommitted, len(all))
	check(fmt.Sprint(gotU) == fmt.Sprint(all), "ReadUncommitted: %v, want %v", gotU, all)
}
