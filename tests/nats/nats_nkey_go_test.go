// nats_nkey_go_test.go: nats.go 1.22.1 (Debian) against a server run from a users config by
// nats_nkey_test.py. "keys" prints two fresh user nkeys (seed and public key, from Debian's
// nkeys package); "check URL SEED OTHER_SEED" connects: the configured nkey user signs the INFO
// nonce and connects, a publish it may not make is an async permissions error on a connection
// that stays up, a key not in the config is refused, the bcrypt user connects and a wrong
// password is refused, and a user without $JS.API publish permission cannot create a stream.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

func fail(f string, a ...interface{}) {
	fmt.Printf("FAIL: "+f+"\n", a...)
	os.Exit(1)
}

func nkeyOpt(seed string) nats.Option {
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		fail("seed: %v", err)
	}
	pub, _ := kp.PublicKey()
	return nats.Nkey(pub, kp.Sign)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "keys" {
		for i := 0; i < 2; i++ {
			kp, err := nkeys.CreateUser()
			if err != nil {
				fail("create: %v", err)
			}
			seed, _ := kp.Seed()
			pub, _ := kp.PublicKey()
			fmt.Printf("%s %s\n", seed, pub)
		}
		return
	}
	if len(os.Args) != 5 || os.Args[1] != "check" {
		fail("usage: keys | check URL SEED OTHER_SEED")
	}
	url, seed, other := os.Args[2], os.Args[3], os.Args[4]
	errs := make(chan error, 4)
	nc, err := nats.Connect(url, nkeyOpt(seed), nats.Timeout(3*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, e error) { errs <- e }))
	if err != nil {
		fail("nkey user connect: %v", err)
	}
	sub, err := nc.SubscribeSync("nk.ok")
	if err != nil {
		fail("subscribe: %v", err)
	}
	if err := nc.Publish("nk.ok", []byte("signed")); err != nil {
		fail("publish: %v", err)
	}
	m, err := sub.NextMsg(3 * time.Second)
	if err != nil || string(m.Data) != "signed" {
		fail("roundtrip: %v %v", m, err)
	}
	if err := nc.Publish("nk.denied", []byte("x")); err != nil {
		fail("publish denied (client side): %v", err)
	}
	select {
	case e := <-errs:
		want := `nats: permissions violation for publish to "nk.denied"`
		if !strings.EqualFold(e.Error(), want) {
			fail("async error %q, want %q", e.Error(), want)
		}
	case <-time.After(3 * time.Second):
		fail("no permissions violation for nk.denied")
	}
	if err := nc.FlushTimeout(3*time.Second); err != nil || !nc.IsConnected() {
		fail("connection should stay up after a permissions violation: %v", err)
	}
	nc.Close()

	if c, err := nats.Connect(url, nkeyOpt(other), nats.Timeout(3*time.Second), nats.NoReconnect()); err == nil {
		c.Close()
		fail("an nkey not in the config connected")
	} else if !strings.EqualFold(err.Error(), nats.ErrAuthorization.Error()) {
		fail("unknown nkey: %v, want %v", err, nats.ErrAuthorization)
	}
	a, err := nats.Connect(url, nats.UserInfo("alice", "s3cret"), nats.Timeout(3*time.Second))
	if err != nil {
		fail("bcrypt user: %v", err)
	}
	a.Close()
	if c, err := nats.Connect(url, nats.UserInfo("alice", "wrong"), nats.Timeout(3*time.Second)); err == nil {
		c.Close()
		fail("wrong password connected")
	} else if !strings.EqualFold(err.Error(), nats.ErrAuthorization.Error()) {
		fail("wrong password: %v, want %v", err, nats.ErrAuthorization)
	}

	b, err := nats.Connect(url, nats.UserInfo("bob", "bobpw"), nats.Timeout(3*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, e error) { errs <- e }))
	if err != nil {
		fail("bob: %v", err)
	}
	js, err := b.JetStream(nats.MaxWait(2 * time.Second))
	if err != nil {
		fail("jetstream context: %v", err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "NOPE", Subjects: []string{"nope.>"}}); err == nil {
		fail("a user without $JS.API publish permission created a stream")
	}
	select {
	case e := <-errs:
		if !strings.Contains(strings.ToLower(e.Error()), `permissions violation for publish to "$js.api.stream.create.nope"`) {
			fail("stream create: async error %q", e.Error())
		}
	case <-time.After(3 * time.Second):
		fail("no permissions violation for the stream create")
	}
	b.Close()
	fmt.Println("nats.go nkey, bcrypt and permission checks passed")
}
