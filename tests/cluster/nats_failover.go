// nats_failover.go: nats.go (Debian 1.22.1, GOPATH mode) given one server URL learns the others
// from INFO's connect_urls, and when that server is killed reconnects to one of them and gets a
// reply from a responder on a third server. Driven by cluster_nats_test.py over stdout/stdin:
//   argv[1]  the one URL
//   prints   "DISCOVERED <n>" once nc.DiscoveredServers() has n >= 2 URLs, then "READY"
//   waits    for the reconnect (the test kills the server after READY)
//   prints   "RECONNECTED <url>", then "REPLY <data>" from a request to svc.failover
// Every wait is bounded; exit 0 pass, 1 fail (the reason on stdout as "FAIL ...").
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	reconnected := make(chan string, 4)
	nc, err := nats.Connect(os.Args[1], nats.MaxReconnects(50), nats.ReconnectWait(200*time.Millisecond),
		nats.Timeout(2*time.Second),
		nats.ReconnectHandler(func(c *nats.Conn) { reconnected <- c.ConnectedUrl() }))
	if err != nil {
		fail("connect: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(nc.DiscoveredServers()) < 2 {
		if time.Now().After(deadline) {
			fail("discovered %v within 15 s", nc.DiscoveredServers())
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("DISCOVERED %d\n", len(nc.DiscoveredServers()))
	fmt.Println("READY")
	select {
	case u := <-reconnected:
		fmt.Printf("RECONNECTED %s\n", u)
	case <-time.After(30 * time.Second):
		fail("no reconnect within 30 s (status %v)", nc.Status())
	}
	for i := 0; i < 20; i++ {
		m, err := nc.Request("svc.failover", []byte("after"), 1*time.Second)
		if err == nil {
			fmt.Printf("REPLY %s\n", m.Data)
			nc.Close()
			os.Exit(0)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fail("no reply after the reconnect")
}
