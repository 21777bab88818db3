// js_js_test.js: nats.js v3 (@nats-io/jetstream + @nats-io/transport-node from npm, Node) JetStream
// against the server in SLUICE_NATS_URL (natsh.py run --jetstream): the work-queue flow of our
// users with nats.js: streams.add (work queue, max_age 24 h), 20,000 orders published with acks
// (PubAck stream/seq exact; Nats-Msg-Id dedupe), 3 workers on one durable (two with
// consumer.fetch, one with consumer.consume), each on its own connection; some orders are nak'd
// once (redelivered with deliveryCount 2), some termed (never again), the rest acked: every order
// ends exactly once, byte-exact, and the stream is empty at the end (first_seq = last_seq + 1).
// Then ack / nak / term one by one on a second stream, and nats.js's ordered pull and push
// consumers over 5,000 messages of 1 KiB. Every wait is bounded. Exit 0 pass, 1 fail, 77 skip.
"use strict";

let nats, jsapi;
try {
  nats = require("@nats-io/transport-node");
  jsapi = require("@nats-io/jetstream");
} catch (e) {
  console.log("SKIP: npm packages @nats-io/transport-node / @nats-io/jetstream missing (run scripts/setup.sh): " + e.message);
  process.exit(77);
}
const { connect, nanos } = nats;
const { jetstream, jetstreamManager, AckPolicy, RetentionPolicy, StorageType, DeliverPolicy } = jsapi;

const url = process.env.SLUICE_NATS_URL;
const kind = process.env.SLUICE_NATS_KIND || "";
let checks = 0;
const failures = [];

class CheckFailed extends Error {}

function show(v) {
  let s = Buffer.isBuffer(v) || v instanceof Uint8Array ? `<${v.length} bytes ${Buffer.from(v.subarray(0, 24)).toString()}...>` : JSON.stringify(v);
  if (s && s.length > 300) s = s.slice(0, 300) + "...";
  return s;
}
function check(cond, what) {
  checks++;
  if (!cond) throw new CheckFailed(what);
}
function eq(got, want, what) {
  checks++;
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new CheckFailed(`${what}: got ${show(got)}, want ${show(want)}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitUntil(cond, ms, what) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new CheckFailed(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

const conns = [];
async function conn(name) {
  let nc;
  try {
    nc = await connect({ servers: url, name, reconnect: false, timeout: 5000 });
  } catch (e) {
    throw new CheckFailed(`connect ${name} to ${url}: ${e.message}`);
  }
  conns.push(nc);
  return nc;
}
async function closeAll() {
  for (const nc of conns.splice(0)) await nc.close().catch(() => {});
}
async function section(name, fn) {
  console.log(`---- ${name}`);
  const t0 = Date.now();
  try {
    await fn();
    await closeAll();
    console.log(`     ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL [${name}]: ${e instanceof CheckFailed ? e.message : e.stack}`);
    await closeAll();
  }
}

async function freshStream(jsm, cfg) {
  try {
    await jsm.streams.delete(cfg.name);
  } catch (e) {
    if (!/stream not found/i.test(e.message)) throw e;
  }
  return jsm.streams.add(cfg);
}

const N = 20000;
const SUBJECTS = ["orders.created", "orders.paid", "orders.shipped"];
// order i: "order-NNNNNN|" then 0..299 filler bytes derived from i (varied sizes, byte-exact).
function order(i) {
  const n = (i * 7919) % 300;
  let s = `order-${String(i).padStart(6, "0")}|`;
  for (let k = 0; k < n; k++) s += String.fromCharCode(97 + ((i + k) % 26));
  return Buffer.from(s);
}
function orderIndex(data) {
  const s = Buffer.from(data.subarray(0, 13)).toString();
  const m = /^order-(\d{6})\|$/.exec(s);
  return m ? Number(m[1]) : -1;
}
// The worker's verdict for order i: nak'd once then acked, termed, or acked at once.
const verdict = (i) => (i % 1000 === 7 ? "nak" : i % 1000 === 13 ? "term" : "ack");

async function workQueue() {
  const nc = await conn("js-admin");
  const jsm = await jetstreamManager(nc);
  const si = await freshStream(jsm, {
    name: "ORDERS", subjects: ["orders.*"], retention: RetentionPolicy.Workqueue,
    max_age: nanos(24 * 60 * 60 * 1000), storage: StorageType.File,
  });
  eq([si.config.retention, si.config.max_age, si.config.max_msgs, si.config.max_bytes, si.config.num_replicas,
    si.config.duplicate_window, si.state.messages],
  ["workqueue", 86400000000000, -1, -1, 1, 120000000000, 0], "created config / state");
  const js = jetstream(nc);

  // Publish with acks, 256 in flight.
  const t0 = Date.now();
  const WINDOW = 256;
  let inflight = [];
  for (let i = 0; i < N; i++) {
    const k = i;
    inflight.push(js.publish(SUBJECTS[i % 3], order(i)).then((pa) => {
      if (pa.stream !== "ORDERS" || pa.seq !== k + 1 || pa.duplicate) {
        throw new CheckFailed(`PubAck of order ${k}: ${JSON.stringify(pa)}, want stream ORDERS seq ${k + 1}`);
      }
    }));
    if (inflight.length >= WINDOW) {
      await Promise.all(inflight);
      inflight = [];
    }
  }
  await Promise.all(inflight);
  checks += N;
  console.log(`     published ${N} orders in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // Dedupe: the same Nats-Msg-Id twice is stored once and acked with the original seq.
  const d1 = await js.publish("orders.created", order(N), { msgID: "dedupe-1" });
  const d2 = await js.publish("orders.created", order(N), { msgID: "dedupe-1" });
  eq([d1.seq, d1.duplicate, d2.seq, d2.duplicate], [N + 1, false, N + 1, true], "Nats-Msg-Id dedupe");
  const st0 = (await jsm.streams.info("ORDERS")).state;
  eq([st0.messages, st0.first_seq, st0.last_seq], [N + 1, 1, N + 1], "state after publishing");

  const ci = await jsm.consumers.add("ORDERS", {
    durable_name: "NWORKER", ack_policy: AckPolicy.Explicit, filter_subject: "orders.*",
  });
  eq([ci.name, ci.config.ack_policy, ci.config.deliver_policy, ci.num_pending], ["NWORKER", "explicit", "all", N + 1],
    "consumer created");

  // 3 workers; each order ends exactly once (acked or termed), nak'd ones come back once.
  const TOTAL = N + 1; // the dedupe order is index N
  const deliveries = new Int32Array(TOTAL);
  const done = new Int32Array(TOTAL);
  let finished = 0;
  let firstErr = null;
  const per = [0, 0, 0];
  const deadline = Date.now() + 90000;
  const handle = (w, m) => {
    const i = orderIndex(m.data);
    if (i < 0 || i >= TOTAL) {
      firstErr = firstErr || `worker ${w}: unexpected payload ${show(m.data)}`;
      return;
    }
    if (Buffer.compare(Buffer.from(m.data), order(i)) !== 0 || m.subject !== (i === N ? "orders.created" : SUBJECTS[i % 3])) {
      firstErr = firstErr || `worker ${w}: order ${i} on ${m.subject} not byte-exact (${m.data.length} bytes)`;
      return;
    }
    deliveries[i]++;
    const dc = m.info.deliveryCount;
    if (m.seq !== i + 1 || m.info.stream !== "ORDERS" || m.info.consumer !== "NWORKER" || dc !== deliveries[i]) {
      firstErr = firstErr || `worker ${w}: order ${i}: seq ${m.seq} deliveryCount ${dc}, delivery ${deliveries[i]}`;
      return;
    }
    if (done[i]) {
      firstErr = firstErr || `worker ${w}: order ${i} delivered after it was finished`;
      return;
    }
    const v = verdict(i);
    if (v === "nak" && dc === 1) {
      m.nak();
      return;
    }
    if (v === "term") m.term();
    else m.ack();
    done[i] = 1;
    finished++;
    per[w]++;
  };
  const fetcher = async (w) => {
    const c = await conn(`js-worker-${w}`);
    const wjs = jetstream(c);
    const cons = await wjs.consumers.get("ORDERS", "NWORKER");
    while (finished < TOTAL && !firstErr && Date.now() < deadline) {
      const iter = await cons.fetch({ max_messages: 100, expires: 1000 });
      for await (const m of iter) handle(w, m);
    }
    await c.flush();
  };
  const consumer = async (w) => {
    const c = await conn(`js-worker-${w}`);
    const wjs = jetstream(c);
    const cons = await wjs.consumers.get("ORDERS", "NWORKER");
    const iter = await cons.consume({ max_messages: 100, expires: 2000 });
    const stopper = setInterval(() => {
      if (finished >= TOTAL || firstErr || Date.now() >= deadline) iter.stop();
    }, 20);
    try {
      for await (const m of iter) handle(w, m);
    } finally {
      clearInterval(stopper);
    }
    await c.flush();
  };
  const t1 = Date.now();
  await Promise.all([fetcher(0), fetcher(1), consumer(2)]);
  if (firstErr) throw new CheckFailed(firstErr);
  eq(finished, TOTAL, "orders finished (acked or termed)");
  for (let i = 0; i < TOTAL; i++) {
    const want = verdict(i) === "nak" ? 2 : 1;
    if (done[i] !== 1 || deliveries[i] !== want) {
      throw new CheckFailed(`order ${i} (${verdict(i)}): finished ${done[i]}, delivered ${deliveries[i]} times, want ${want}`);
    }
  }
  checks += TOTAL;
  check(per.every((n) => n > 0), `every worker consumed something: ${per}`);
  console.log(`     consumed in ${((Date.now() - t1) / 1000).toFixed(1)} s by 3 workers: ${per}`);

  let st;
  await waitUntil(async () => { st = (await jsm.streams.info("ORDERS")).state; return st.messages === 0; },
    10000, "the work queue to drain");
  eq([st.messages, st.bytes, st.first_seq, st.last_seq, st.consumer_count], [0, 0, TOTAL + 1, TOTAL, 1],
    "drained state messages/bytes/first_seq/last_seq/consumer_count");
  const ci2 = await jsm.consumers.info("ORDERS", "NWORKER");
  eq([ci2.num_pending, ci2.num_ack_pending, ci2.ack_floor.stream_seq], [0, 0, TOTAL], "consumer after draining");
  eq(await jsm.streams.delete("ORDERS"), true, "delete ORDERS");
}

async function ackNakTerm() {
  const nc = await conn("js-acks");
  const jsm = await jetstreamManager(nc);
  await freshStream(jsm, { name: "RETRYJ", subjects: ["retryj.*"], retention: RetentionPolicy.Workqueue });
  const js = jetstream(nc);
  for (const s of ["a", "b", "c"]) await js.publish(`retryj.${s}`, Buffer.from(`m-${s}`));
  await jsm.consumers.add("RETRYJ", { durable_name: "R", ack_policy: AckPolicy.Explicit, ack_wait: nanos(2000) });
  const c = await js.consumers.get("RETRYJ", "R");
  const next = async (what) => {
    const m = await c.next({ expires: 3000 });
    check(m !== null, `${what}: no message`);
    return m;
  };
  let m = await next("a");
  eq([Buffer.from(m.data).toString(), m.seq, m.info.deliveryCount, m.info.pending], ["m-a", 1, 1, 2], "a first");
  check(await m.ackAck(), "ackAck of a");
  m = await next("b");
  eq([Buffer.from(m.data).toString(), m.info.deliveryCount], ["m-b", 1], "b first");
  const t0 = Date.now();
  m.nak(500);
  m = await next("c");
  eq([Buffer.from(m.data).toString(), m.info.deliveryCount], ["m-c", 1], "c while b waits its nak delay");
  m.term();
  m = await next("b again");
  const el = Date.now() - t0;
  eq([Buffer.from(m.data).toString(), m.info.deliveryCount, m.info.redelivered], ["m-b", 2, true], "b redelivered");
  check(el >= 400 && el < 3000, `nak(500) redelivered after ${el} ms`);
  // Not acked: back after ack_wait (2 s); working() every second holds it for 4 s.
  const t1 = Date.now();
  m = await next("b after ack_wait");
  const el1 = Date.now() - t1;
  eq(m.info.deliveryCount, 3, "b redelivered after ack_wait");
  check(el1 >= 1700 && el1 < 4000, `ack_wait 2 s redelivered after ${el1} ms`);
  for (let k = 0; k < 4; k++) {
    const r = await c.next({ expires: 1000 });
    check(r === null, `redelivered while working(): ${r && r.info.deliveryCount}`);
    m.working();
  }
  check(await m.ackAck(), "ackAck of b");
  check((await c.next({ expires: 1200 })) === null, "nothing left");
  let st;
  await waitUntil(async () => { st = (await jsm.streams.info("RETRYJ")).state; return st.messages === 0; },
    5000, "RETRYJ to drain");
  eq([st.messages, st.first_seq, st.last_seq], [0, 4, 3], "RETRYJ drained");
  eq(await jsm.streams.delete("RETRYJ"), true, "delete RETRYJ");
}

// Ordered consumers: nats.js's ordered pull consumer (consumers.get(stream)) and ordered push
// consumer (consumers.getPushConsumer(stream): flow control and heartbeats) read 5,000 messages of
// 1 KiB, every byte and sequence in order, with no consumer restart (consumer sequence = stream
// sequence).
const NO = 5000;
function kib(i) {
  const b = Buffer.alloc(1024);
  b.write(`ord-${String(i).padStart(6, "0")}|`);
  for (let k = 11; k < 1024; k++) b[k] = 65 + ((i * 31 + k) % 58);
  return b;
}

async function orderedConsumers() {
  const nc = await conn("js-ordered");
  const jsm = await jetstreamManager(nc);
  await freshStream(jsm, { name: "ORDJ", subjects: ["ordj.*"] });
  const js = jetstream(nc);
  let inflight = [];
  for (let i = 0; i < NO; i++) {
    inflight.push(js.publish(`ordj.${i % 5}`, kib(i)));
    if (inflight.length >= 256) {
      await Promise.all(inflight);
      inflight = [];
    }
  }
  await Promise.all(inflight);
  const readAll = async (what, iter) => {
    let i = 0;
    const timer = setTimeout(() => iter.stop(), 60000);
    try {
      for await (const m of iter) {
        if (m.seq !== i + 1 || m.info.streamSequence !== i + 1 || m.info.deliverySequence !== i + 1 ||
          m.subject !== `ordj.${i % 5}` ||
          Buffer.compare(Buffer.from(m.data), kib(i)) !== 0) {
          throw new CheckFailed(`${what}: message ${i}: seq ${m.seq} on ${m.subject}, ${m.data.length} bytes`);
        }
        i++;
        if (i === NO) break;
      }
    } finally {
      clearTimeout(timer);
    }
    eq(i, NO, `${what}: messages in order`);
    checks += NO;
  };
  const t0 = Date.now();
  const oc = await js.consumers.get("ORDJ");
  await readAll("ordered pull consumer", await oc.consume({ max_messages: 256 }));
  const t1 = Date.now();
  const pc = await js.consumers.getPushConsumer("ORDJ");
  await readAll("ordered push consumer", await pc.consume());
  console.log(`     ordered pull ${((t1 - t0) / 1000).toFixed(1)} s, ordered push ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  eq(await jsm.streams.delete("ORDJ"), true, "delete ORDJ");
}

async function main() {
  if (!url) {
    console.log("SKIP: SLUICE_NATS_URL is not set (run through natsh.py run --jetstream)");
    process.exit(77);
  }
  setTimeout(() => { console.log("FAIL: js_js_test: time limit (240 s) exceeded"); process.exit(1); }, 240000).unref();
  console.log(`nats.js @nats-io/jetstream ${JSON.parse(require("fs").readFileSync(require("path").join(__dirname, "node_modules/@nats-io/jetstream/package.json"))).version} against ${url} (${kind})`);
  await section(`work queue: ${N} orders, publish with acks, 3 workers (fetch x2, consume), nak / term / ack, exactly once, empty`, workQueue);
  await section("ack / nak(delay) / term / ack_wait / working one by one", ackNakTerm);
  await section(`ordered pull and push consumers: ${NO} messages of 1 KiB in order`, orderedConsumers);
  if (failures.length) {
    console.log(`FAIL: js_js_test: failed sections: ${failures.join(", ")}`);
    process.exit(1);
  }
  console.log(`PASS: js_js_test (${checks} checks)`);
  process.exit(0);
}

main().catch((e) => { console.log(`FAIL: js_js_test: ${e.stack}`); process.exit(1); });
