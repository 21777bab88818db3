// kafka_tls_sarama.go: sarama 1.22.1 (Debian golang-github-shopify-sarama-dev) over SSL and
// SASL_SSL, run by kafka_sasl_ssl_test.py, which builds it in GOPATH mode and starts the brokers.
//
//	kafka_tls_sarama BOOTSTRAP CA TOPIC ssl CERT KEY
//	kafka_tls_sarama BOOTSTRAP CA TOPIC sasl MECHANISM USER PASSWORD VERSION
//	kafka_tls_sarama BOOTSTRAP CA TOPIC refused MECHANISM USER PASSWORD
//
// ssl presents a client certificate (the broker runs tls_verify); sasl logs in with PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512 (SCRAM through Debian's golang-github-xdg-go-scram-dev) at
// VERSION 0.11 (PLAIN: SaslHandshake v0 and raw tokens) or 1.0 (SaslHandshake v1 and
// SaslAuthenticate). Both produce 40 messages of varied sizes with a SyncProducer (acks=all),
// then a Consumer reads partition 0 from the first offset produced: every offset, key and value
// must come back. refused must fail to reach the cluster with a wrong password.
package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/ioutil"
	"os"
	"time"

	"github.com/Shopify/sarama"
	"github.com/xdg-go/scram"
)

func fail(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+f+"\n", a...)
	os.Exit(1)
}

// scramClient adapts xdg-go/scram's conversation to sarama's SCRAMClient.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authz string) error {
	c, err := s.hash.NewClient(user, password, authz)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *scramClient) Done() bool                            { return s.conv.Done() }

func tlsConfig(ca string, cert, key string) *tls.Config {
	pem, err := ioutil.ReadFile(ca)
	if err != nil {
		fail("read CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		fail("no certificate in %s", ca)
	}
	t := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			fail("client certificate: %v", err)
		}
		t.Certificates = []tls.Certificate{kp}
	}
	return t
}

func saslConfig(c *sarama.Config, mech, user, pass string) {
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
	c.Net.SASL.User = user
	c.Net.SASL.Password = pass
	switch mech {
	case sarama.SASLTypeSCRAMSHA512:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha512.New} }
	case sarama.SASLTypeSCRAMSHA256:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha256.New} }
	}
}

func roundTrip(boot, topic string, c *sarama.Config) {
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Return.Errors = true
	p, err := sarama.NewSyncProducer([]string{boot}, c)
	if err != nil {
		fail("producer: %v", err)
	}
	const n = 40
	keys, vals, offs := make([][]byte, n), make([][]byte, n), make([]int64, n)
	for i := 0; i < n; i++ {
		keys[i] = []byte(fmt.Sprintf("k%d", i))
		vals[i] = bytes.Repeat([]byte{byte(i), byte(255 - i)}, (i*7919)%30000+1)
		_, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0,
			Key: sarama.ByteEncoder(keys[i]), Value: sarama.ByteEncoder(vals[i])})
		if err != nil {
			fail("send %d: %v", i, err)
		}
		if i > 0 && off != offs[i-1]+1 {
			fail("offset of message %d: %d after %d", i, off, offs[i-1])
		}
		offs[i] = off
	}
	p.Close()
	cons, err := sarama.NewConsumer([]string{boot}, c)
	if err != nil {
		fail("consumer: %v", err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, offs[0])
	if err != nil {
		fail("consume partition: %v", err)
	}
	defer pc.Close()
	for i := 0; i < n; i++ {
		select {
		case m := <-pc.Messages():
			if m.Offset != offs[i] || !bytes.Equal(m.Key, keys[i]) || !bytes.Equal(m.Value, vals[i]) {
				fail("message %d: offset %d (want %d), key %q (want %q), %d value bytes (want %d, equal %v)",
					i, m.Offset, offs[i], m.Key, keys[i], len(m.Value), len(vals[i]), bytes.Equal(m.Value, vals[i]))
			}
		case e := <-pc.Errors():
			fail("consume: %v", e)
		case <-time.After(15 * time.Second):
			fail("message %d did not arrive", i)
		}
	}
	fmt.Printf("ok: %d messages at offsets %d-%d, every byte\n", n, offs[0], offs[n-1])
}

func main() {
	if len(os.Args) < 5 {
		fail("usage: kafka_tls_sarama BOOTSTRAP CA TOPIC ssl|sasl|refused ...")
	}
	boot, ca, topic, mode := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	c := sarama.NewConfig()
	c.ClientID = "sarama-tls"
	c.Net.TLS.Enable = true
	c.Net.DialTimeout = 5 * time.Second
	c.Metadata.Retry.Max = 1
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	switch {
	case mode == "ssl" && len(os.Args) == 7:
		c.Version = sarama.V1_0_0_0
		c.Net.TLS.Config = tlsConfig(ca, os.Args[5], os.Args[6])
		roundTrip(boot, topic, c)
	case mode == "sasl" && len(os.Args) == 9:
		v, err := sarama.ParseKafkaVersion(os.Args[8])
		if err != nil {
			fail("version: %v", err)
		}
		c.Version = v
		c.Net.TLS.Config = tlsConfig(ca, "", "")
		saslConfig(c, os.Args[5], os.Args[6], os.Args[7])
		roundTrip(boot, topic, c)
	case mode == "refused" && len(os.Args) == 8:
		c.Version = sarama.V1_0_0_0
		c.Net.TLS.Config = tlsConfig(ca, "", "")
		saslConfig(c, os.Args[5], os.Args[6], os.Args[7])
		cl, err := sarama.NewClient([]string{boot}, c)
		if err == nil {
			cl.Close()
			fail("a wrong password reached the cluster")
		}
		fmt.Println("ok: refused:", err)
	default:
		fail("bad arguments %q", os.Args[1:])
	}
}
