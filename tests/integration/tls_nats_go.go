// tls_nats_go.go: nats.go over TLS, run by tls_test.py against nats-server 2.9.10 and Sluice.
// Usage: tls_nats_go URL CA_FILE [CERT KEY | -nocert-refused]. Connects with nats.Secure and
// RootCAs (plus ClientCert when given), subscribes, publishes 500 messages of varied sizes and
// checks every byte and the order; with -nocert-refused the connection must fail (mTLS).
// Auth from the environment (nats_tls_test.py): NATS_TLS_TOKEN (nats.Token), NATS_TLS_NKEY_SEED
// (a seed file, nats.NkeyOptionFromSeed), NATS_TLS_USER with NATS_TLS_PASS (nats.UserInfo); with
// -auth-refused as the last argument the connect must fail with an authorization violation.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
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
	args := os.Args[3:]
	authRefused := len(args) > 0 && args[len(args)-1] == "-auth-refused"
	if authRefused {
		args = args[:len(args)-1]
	}
	refused := len(args) == 1 && args[0] == "-nocert-refused"
	if len(args) == 2 {
		opts = append(opts, nats.ClientCert(args[0], args[1]))
	}
	if t := os.Getenv("NATS_TLS_TOKEN"); t != "" {
		opts = append(opts, nats.Token(t))
	}
	if u := os.Getenv("NATS_TLS_USER"); u != "" {
		opts = append(opts, nats.UserInfo(u, os.Getenv("NATS_TLS_PASS")))
	}
	if f := os.Getenv("NATS_TLS_NKEY_SEED"); f != "" {
		o, err := nats.NkeyOptionFromSeed(f)
		if err != nil {
			fail("nkey seed: %v", err)
		}
		opts = append(opts, o)
	}
	nc, err := nats.Connect(url, opts...)
	if authRefused {
		// nats.go 1.22 gives ErrAuthorization, or the -ERR text when it came in the first read.
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			fail("want an authorization error, got %v", err)
		}
		fmt.Println("ok: refused:", err)
		return
	}
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
