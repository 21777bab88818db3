// capture_nats.js: NATS and JetStream traffic from nats.js for tests/fuzz/capture.py, which
// records it through a proxy at SLUICE_NATS_URL. Core pub/sub with headers, request/reply,
// and a JetStream stream, consumer, pull fetch and acks.
const nats = require("@nats-io/transport-node");
const jsapi = require("@nats-io/jetstream");

(async () => {
  const nc = await nats.connect({ servers: process.env.SLUICE_NATS_URL, name: "fuzz-capture" });
  const sub = nc.subscribe("cap.>", { max: 3 });
  const sub2 = nc.subscribe("cap.q", { queue: "workers" });
  nc.subscribe("cap.echo", { callback: (err, m) => m.respond(m.data) });
  const h = nats.headers();
  h.set("X-Trace", "abc");
  nc.publish("cap.one", "hello");
  nc.publish("cap.two", new Uint8Array([0, 1, 2, 255]), { headers: h, reply: "cap.reply" });
  nc.publish("cap.q", "");
  await nc.request("cap.echo", "ping?", { timeout: 2000 });
  for await (const m of sub) { if (sub.getProcessed() >= 3) break; }
  sub2.unsubscribe();
  await nc.flush();

  const jsm = await jsapi.jetstreamManager(nc);
  await jsm.streams.add({ name: "CAP", subjects: ["capjs.>"], max_msgs: 1000, max_age: 3600e9,
                          duplicate_window: 60e9, discard: "old" });
  await jsm.streams.update("CAP", { subjects: ["capjs.>"], max_msgs: 2000 });
  const js = jsapi.jetstream(nc);
  const hh = nats.headers();
  hh.set("Nats-Msg-Id", "m1");
  await js.publish("capjs.a", "one", { headers: hh });
  await js.publish("capjs.b", "two");
  await jsm.consumers.add("CAP", { durable_name: "W", ack_policy: jsapi.AckPolicy.Explicit,
                                   filter_subject: "capjs.>", ack_wait: 30e9, max_deliver: 5 });
  const c = await js.consumers.get("CAP", "W");
  const iter = await c.fetch({ max_messages: 2, expires: 1000 });
  for await (const m of iter) m.ack();
  await jsm.streams.info("CAP");
  await jsm.streams.getMessage("CAP", { seq: 1 });
  await jsm.streams.purge("CAP");
  await jsm.consumers.delete("CAP", "W");
  await jsm.streams.delete("CAP");
  await nc.drain();
})().catch((e) => { console.error(e); process.exit(1); });
