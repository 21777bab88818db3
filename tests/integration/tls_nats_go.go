// tls_nats_go.go: nats.go over TLS, run by tls_test.py against nats-server 2.9.10 and Sluice.
// Usage: tls_nats_go URL CA_FILE [CERT KEY | -nocert-refused]. Connects with nats.Secure and
// RootCAs (plus ClientCert when given), subscribes, publishes 500 messages of varied sizes and
// checks every byte and the order; with -nocert-refused the connection must fail (mTLS).
package main

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

func fail(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+f+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: tls_nats_go URL CA [CERT KEY | -nocert-refused]")
	}
	url, ca := os.Args[1], os.Args[2]
	opts := []nats.Option{nats.Secure(), nats.RootCAs(ca), nats.Timeout(5 * time.Second), nats.NoReconnect()}
	refused := len(os.Args) == 4 && os.Args[3] == "-nocert-refused"
	if len(os.Args) == 5 {
		opts = append(opts, nats.ClientCert(os.Args[3], os.Args[4]))
	}
	nc, err := nats.Connect(url, opts...)
	if refused {
		if err == nil {
			// TLS 1.3: the refusal may come after Connect returned; a round trip must fail.
			err = nc.Flush()
			nc.Close()
		}
		if err == nil {
			fail("connected without a client certificate")
		}
		fmt.Println("ok: refused without a client certificate:", err)
		return
	}
	if err != nil {
		fail("connect: %v", err)
	}
	defer nc.Close()
	if !nc.TLSRequired() {
		fail("INFO did not say tls_required")
	}
	sub, err := nc.SubscribeSync("tls.go")
	if err != nil {
		fail("subscribe: %v", err)
	}
	const n = 500
	want := make([][]byte, n)
	for i := 0; i < n; i++ {
		want[i] = bytes.Repeat([]byte{byte(i)}, (i*7919)%70000)
		if err := nc.Publish("tls.go", want[i]); err != nil {
			fail("publish %d: %v", i, err)
		}
	}
	if err := nc.Flush(); err != nil {
		fail("flush: %v", err)
	}
	for i := 0; i < n; i++ {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			fail("message %d: %v", i, err)
		}
		if !bytes.Equal(m.Data, want[i]) {
			fail("message %d: %d bytes, want %d", i, len(m.Data), len(want[i]))
		}
	}
	fmt.Printf("ok: %d messages over TLS, every byte\n", n)
}
