// js_replicated.go: a replicated JetStream stream (Replicas 3) survives kill -9 of its leader,
// with nats.go (Debian 1.22.1, GOPATH mode), driven by cluster_js_replicated_test.py:
//   argv[1..3]  the client URLs of servers A, B and C (one connection to each, no discovery)
//   A: AddStream REP (rep.>, Replicas 3, file storage; retried while clustered JetStream is not
//      ready); prints CREATED
//   A, B, C: STREAM.INFO REP says Replicas 3 and names the same leader (retried up to 20 s
//      until it names one); prints LEADER <name>; the publishing connection is one whose
//      server is not the leader: PUBVIA <name>
//   1000 synchronous publishes rep.<i%10>, Nats-Msg-Id m-NNNNN, payload the id and 100 bytes
//      derived from i, AckWait 2 s; a failed publish is sent again with the same id (60 s at
//      most for one message); after the 300th PubAck prints KILL and waits for KILLED on stdin
//      (the test kill -9's the leader); FAILOVER_MS <ms from KILLED to the next PubAck>
//   then STREAM.INFO via the publishing connection names another leader (30 s at most):
//      NEWLEADER <name>; 1000 messages, first 1, last 1000; the PubAck sequences are
//      exactly 1..1000 (a re-sent id keeps its one sequence); GetMsg of every sequence gives the
//      subject and every payload byte of the message acked with it
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
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	total     = 1000
	killAfter = 300
	stream    = "REP"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func step(s string) { fmt.Printf("STEP %s\n", s) }

type server struct {
	tag string
	nc  *nats.Conn
	js  nats.JetStreamContext
}

func connect(url, tag string) server {
	nc, err := nats.Connect(url, nats.Name(tag), nats.Timeout(3*time.Second), nats.NoReconnect())
	if err != nil {
		fail("connect %s %s: %v", tag, url, err)
	}
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		fail("jetstream %s: %v", tag, err)
	}
	return server{tag, nc, js}
}

func msgID(i int) string { return fmt.Sprintf("m-%05d", i) }

func subject(i int) string { return fmt.Sprintf("rep.%d", i%10) }

func payload(i int) []byte {
	b := []byte(msgID(i))
	for k := 0; k < 100; k++ {
		b = append(b, byte((i*31+k*7+i/7)%256))
	}
	return b
}

// clusterOf is a printable cluster block of a STREAM.INFO.
func clusterOf(si *nats.StreamInfo) string {
	if si.Cluster == nil {
		return "no cluster info"
	}
	var rs []string
	for _, p := range si.Cluster.Replicas {
		rs = append(rs, fmt.Sprintf("%s(current=%v,offline=%v)", p.Name, p.Current, p.Offline))
	}
	return fmt.Sprintf("cluster %q leader %q replicas [%s]", si.Cluster.Name, si.Cluster.Leader, strings.Join(rs, " "))
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: js_replicated URL_A URL_B URL_C")
	}
	servers := []server{connect(os.Args[1], "A"), connect(os.Args[2], "B"), connect(os.Args[3], "C")}
	defer func() {
		for _, s := range servers {
			s.nc.Close()
		}
	}()
	stdin := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			stdin <- strings.TrimSpace(sc.Text())
		}
		close(stdin)
	}()

	step("create on A")
	cfg := &nats.StreamConfig{Name: stream, Subjects: []string{"rep.>"}, Replicas: 3, Storage: nats.FileStorage}
	var err error
	for i := 0; i < 60; i++ { // clustered JetStream elects its meta leader first
		if _, err = servers[0].js.AddStream(cfg); err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		fail("AddStream REP (Replicas 3) on A: %v", err)
	}
	fmt.Println("CREATED")

	step("stream info on A, B, C")
	leader := ""
	deadline := time.Now().Add(20 * time.Second)
	for {
		leaders := map[string]bool{}
		why := ""
		for _, s := range servers {
			si, err := s.js.StreamInfo(stream)
			if err != nil {
				why = fmt.Sprintf("StreamInfo via %s: %v", s.tag, err)
				break
			}
			if si.Config.Replicas != 3 {
				fail("StreamInfo via %s: config replicas %d, want 3", s.tag, si.Config.Replicas)
			}
			if si.Cluster == nil || si.Cluster.Leader == "" {
				why = fmt.Sprintf("StreamInfo via %s: no leader (%s)", s.tag, clusterOf(si))
				break
			}
			leaders[si.Cluster.Leader] = true
		}
		if why == "" && len(leaders) == 1 {
			for l := range leaders {
				leader = l
			}
			break
		}
		if why == "" {
			why = fmt.Sprintf("the servers name different leaders: %v", leaders)
		}
		if time.Now().After(deadline) {
			fail("%s (after 20 s)", why)
		}
		time.Sleep(250 * time.Millisecond)
	}
	fmt.Printf("LEADER %s\n", leader)
	var pub *server
	var names []string
	for i := range servers {
		n := servers[i].nc.ConnectedServerName()
		names = append(names, servers[i].tag+"="+n)
		if pub == nil && n != leader {
			pub = &servers[i]
		}
	}
	if pub == nil {
		fail("every connection is to the leader %s: %v", leader, names)
	}
	known := false
	for i := range servers {
		known = known || servers[i].nc.ConnectedServerName() == leader
	}
	if !known {
		fail("the leader %q is none of the servers connected to: %v", leader, names)
	}
	fmt.Printf("PUBVIA %s\n", pub.nc.ConnectedServerName())

	step("publish")
	seqs := make([]uint64, total+1)
	retries, dups, printed := 0, 0, 0
	errKinds := map[string]int{}
	var killed time.Time
	for i := 1; i <= total; i++ {
		start := time.Now()
		for {
			ack, err := pub.js.Publish(subject(i), payload(i), nats.MsgId(msgID(i)), nats.AckWait(2*time.Second))
			if err == nil && ack.Stream != stream {
				err = fmt.Errorf("PubAck names stream %q", ack.Stream)
			}
			if err == nil {
				seqs[i] = ack.Sequence
				if ack.Duplicate {
					dups++
					fmt.Printf("DUPLICATE %d seq %d\n", i, ack.Sequence)
				}
				break
			}
			retries++
			errKinds[err.Error()]++
			if printed < 20 {
				printed++
				fmt.Printf("RETRY %d after %d ms: %v\n", i, time.Since(start).Milliseconds(), err)
			}
			if time.Since(start) > 60*time.Second {
				fail("publish %d: no PubAck within 60 s, last error %v", i, err)
			}
			if !errors.Is(err, nats.ErrTimeout) {
				time.Sleep(100 * time.Millisecond) // a quick error: do not spin
			}
		}
		if !killed.IsZero() && i == killAfter+1 {
			fmt.Printf("FAILOVER_MS %d\n", time.Since(killed).Milliseconds())
		}
		if i == killAfter {
			fmt.Println("KILL")
			select {
			case l, ok := <-stdin:
				if !ok || l != "KILLED" {
					fail("waiting for KILLED on stdin: got %q", l)
				}
			case <-time.After(30 * time.Second):
				fail("no KILLED on stdin within 30 s")
			}
			killed = time.Now()
		}
	}
	var kinds []string
	for k, n := range errKinds {
		kinds = append(kinds, fmt.Sprintf("%dx %s", n, k))
	}
	sort.Strings(kinds)
	fmt.Printf("PUBLISHED %d retries %d duplicates %d errors [%s]\n", total, retries, dups, strings.Join(kinds, "; "))

	step("stream info after the failover")
	var si *nats.StreamInfo
	deadline = time.Now().Add(30 * time.Second)
	for {
		si, err = pub.js.StreamInfo(stream)
		if err == nil && si.Cluster != nil && si.Cluster.Leader != "" && si.Cluster.Leader != leader {
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				fail("StreamInfo via %s after the kill: %v", pub.tag, err)
			}
			fail("StreamInfo via %s after the kill: still %s", pub.tag, clusterOf(si))
		}
		time.Sleep(250 * time.Millisecond)
	}
	fmt.Printf("NEWLEADER %s\n", si.Cluster.Leader)
	fmt.Printf("INFO %s\n", clusterOf(si))
	if si.Config.Replicas != 3 {
		fail("after the failover the config says replicas %d", si.Config.Replicas)
	}
	if si.State.Msgs != total || si.State.FirstSeq != 1 || si.State.LastSeq != total {
		fail("stream state: %d messages, first %d, last %d; want %d, 1, %d", si.State.Msgs,
			si.State.FirstSeq, si.State.LastSeq, total, total)
	}
	bySeq := make(map[uint64]int, total)
	for i := 1; i <= total; i++ {
		if seqs[i] < 1 || seqs[i] > total {
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
	fmt.Printf("SEQS distinct 1..%d (%d of them equal to the message's index)\n", total, inOrder)

	step("read back")
	for seq := uint64(1); seq <= total; seq++ {
		var m *nats.RawStreamMsg
		for a := 0; ; a++ {
			if m, err = pub.js.GetMsg(stream, seq); err == nil || a == 5 {
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
	fmt.Println("PASS")
}
