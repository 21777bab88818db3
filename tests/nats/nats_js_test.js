// nats_js_test.js: nats.js (npm `nats` 2.x, Node) against the NATS server in SLUICE_NATS_URL
// (started by natsh.py): 10,000 random payloads of 0 B-64 KiB byte-exact and in order, plain and
// with headers; wildcard subsets (nats-subset.md §9); a queue group; 1,000 requests; no responders
// failing fast; headers with repeated keys; subscribe {max: n} / unsubscribe(n). Publisher and
// subscribers are separate connections. Every wait is bounded. Exit 0 pass, 1 fail, 77 skip.
"use strict";

let nats;
try {
  nats = require("nats");
} catch (e) {
  console.log("SKIP: npm package nats missing (run scripts/setup.sh): " + e.message);
  process.exit(77);
}
const { connect, headers, ErrorCode } = nats;
const crypto = require("crypto");

const url = process.env.SLUICE_NATS_URL;
const kind = process.env.SLUICE_NATS_KIND || "";
let checks = 0;
const failures = [];

class CheckFailed extends Error {}

function show(v) {
  let s = Buffer.isBuffer(v) || v instanceof Uint8Array ? `<${v.length} bytes ${Buffer.from(v.subarray(0, 16)).toString("hex")}...>` : JSON.stringify(v);
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
  while (!cond()) {
    if (Date.now() > end) throw new CheckFailed(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(1);
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
  nc.lastError = null;
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" || s.type === "disconnect") nc.lastError = nc.lastError || `${s.type}: ${s.data}`;
    }
  })().catch(() => {});
  nc.closed().then((err) => {
    if (err) nc.lastError = nc.lastError || `closed: ${err.message}`;
  });
  return nc;
}
async function closeAll() {
  for (const nc of conns.splice(0)) {
    if (nc.lastError) {
      const e = nc.lastError;
      await nc.close().catch(() => {});
      throw new CheckFailed(`connection ${nc.options.name}: ${e}`);
    }
    await nc.close().catch(() => {});
  }
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
    for (const nc of conns.splice(0)) await nc.close().catch(() => {});
  }
}

const N = 10000;
const MAXP = 64 * 1024;
const WINDOW = 512;
const uniq = () => `${process.pid}${Date.now() % 1000000}${Math.floor(Math.random() * 1000)}`;

async function payloads(withHeaders) {
  // Payload i = a random slice of a random 1 MiB block: cheap to keep, byte-exact to check.
  const block = crypto.randomBytes(1 << 20);
  const specs = [];
  for (let i = 0; i < N; i++) {
    let len = crypto.randomInt(MAXP + 1);
    if (i === 0) len = 0;
    if (i === 1) len = MAXP;
    if (i === 2) len = 1;
    specs.push([crypto.randomInt(block.length - len + 1), len]);
  }
  const pay = (i) => block.subarray(specs[i][0], specs[i][0] + specs[i][1]);
  const pub = await conn("js-pub");
  const sub = await conn("js-sub");
  const subj = `jpay.${uniq()}.${withHeaders}`;
  let received = 0;
  let bytes = 0;
  let firstErr = null;
  sub.subscribe(subj, {
    callback: (err, m) => {
      if (err) {
        firstErr = firstErr || `subscription error: ${err.message}`;
        return;
      }
      const k = received++;
      const want = pay(k);
      bytes += m.data.length;
      if (firstErr) return;
      if (Buffer.compare(Buffer.from(m.data), want) !== 0) {
        firstErr = `message ${k}: ${show(m.data)} differs from the published ${show(want)}`;
      } else if (withHeaders) {
        const h = m.headers;
        const got = h ? JSON.stringify(h.toRecord()) : "none";
        const w = JSON.stringify(hdr(k, want.length).toRecord());
        if (got !== w) firstErr = `message ${k}: headers ${got}, want ${w}`;
      } else if (m.headers) {
        firstErr = `message ${k}: unexpected headers ${JSON.stringify(m.headers.toRecord())}`;
      }
    },
  });
  await sub.flush();
  let sent = 0;
  for (let i = 0; i < N; i++) {
    if (i - received >= WINDOW) {
      await waitUntil(() => i - received < WINDOW / 2, 30000, `subscriber (at ${received} of ${i})`);
    }
    const p = pay(i);
    sent += p.length;
    if (withHeaders) pub.publish(subj, p, { headers: hdr(i, p.length) });
    else pub.publish(subj, p);
  }
  await pub.flush();
  await waitUntil(() => received >= N || firstErr, 60000, `all ${N} messages (got ${received})`);
  check(!firstErr, firstErr);
  await sub.flush();
  eq(received, N, "message count (no extra messages)");
  eq(bytes, sent, "payload bytes");
  console.log(`     ${N} messages, ${(sent / 1e6).toFixed(1)} MB`);
}

function hdr(i, n) {
  const h = headers();
  h.append("Idx", String(i));
  h.append("X-Multi", "a");
  h.append("X-Multi", "b" + (i % 7));
  h.append("X-Multi", "c");
  h.append("x-lower", String(n));
  return h;
}

function collector(nc, subj) {
  const got = [];
  nc.subscribe(subj, { callback: (err, m) => { if (!err) got.push(m.subject); } });
  return got;
}

async function wildcards(prefix) {
  const pub = await conn("js-wc-pub");
  const sub = await conn("js-wc-sub");
  const p = (s) => (prefix ? `${prefix}.${s}` : s);
  const patterns = ["orders.*", "orders.>", "*.created", "*.>", "orders.created"];
  const got = {};
  for (const pat of patterns) got[pat] = collector(sub, p(pat));
  await sub.flush();
  const published = ["orders.created", "orders.shipped", "orders.eu.created", "orders.created.x",
    "orders", "users.created", "ordersX.created", "orders.*"];
  for (const s of published) pub.publish(p(s), Buffer.from(s));
  await pub.flush();
  await sub.flush();
  const want = {
    "orders.*": ["orders.created", "orders.shipped", "orders.*"],
    "orders.>": ["orders.created", "orders.shipped", "orders.eu.created", "orders.created.x", "orders.*"],
    "*.created": ["orders.created", "users.created", "ordersX.created"],
    "*.>": ["orders.created", "orders.shipped", "orders.eu.created", "orders.created.x", "users.created", "ordersX.created", "orders.*"],
    "orders.created": ["orders.created"],
  };
  for (const pat of patterns) eq(got[pat], want[pat].map(p), `subscription ${p(pat)}`);
}

async function queueGroup() {
  const pub = await conn("js-q-pub");
  const plain = await conn("js-q-plain");
  const m1 = await conn("js-q-m1");
  const m2 = await conn("js-q-m2");
  const subj = `jjobs.${uniq()}`;
  const got = { m1: [], m2: [], plain: [] };
  const cb = (name) => (err, m) => { if (!err) got[name].push(Buffer.from(m.data).toString()); };
  m1.subscribe(subj, { queue: "workers", callback: cb("m1") });
  m2.subscribe(subj, { queue: "workers", callback: cb("m2") });
  plain.subscribe(subj, { callback: cb("plain") });
  await Promise.all([m1.flush(), m2.flush(), plain.flush()]);
  const all = [];
  for (let i = 0; i < 1000; i++) {
    const s = `job-${String(i).padStart(4, "0")}`;
    all.push(s);
    pub.publish(subj, Buffer.from(s));
  }
  await pub.flush();
  await waitUntil(() => got.m1.length + got.m2.length >= 1000 && got.plain.length >= 1000, 10000, "deliveries");
  await Promise.all([m1.flush(), m2.flush(), plain.flush()]);
  eq(got.plain, all, "plain subscriber sees every message in order");
  eq([...got.m1, ...got.m2].sort(), all, "queue members together: each message exactly once");
  check(got.m1.length >= 100 && got.m2.length >= 100, `both members get a share: m1 ${got.m1.length}, m2 ${got.m2.length}`);
  for (const k of ["m1", "m2"]) eq(got[k], [...got[k]].sort(), `member ${k} in publish order`);
  console.log(`     m1 ${got.m1.length}, m2 ${got.m2.length}, plain ${got.plain.length}`);
}

async function requests() {
  const req = await conn("js-req");
  const resp = await conn("js-resp");
  const subj = `jsvc.${uniq()}`;
  let served = 0;
  resp.subscribe(subj, {
    callback: (err, m) => {
      if (err) return;
      served++;
      const out = Buffer.concat([Buffer.from("re:"), Buffer.from(m.data)]);
      m.respond(out, m.headers ? { headers: m.headers } : undefined);
    },
  });
  await resp.flush();
  const t0 = Date.now();
  for (let i = 0; i < 1000; i++) {
    const data = `q-${i}-${"x".repeat(i % 97)}`;
    let m;
    try {
      m = await req.request(subj, Buffer.from(data), { timeout: 5000 });
    } catch (e) {
      throw new CheckFailed(`request ${i}: ${e.message} (${e.code})`);
    }
    eq(Buffer.from(m.data).toString(), "re:" + data, `reply ${i}`);
    check(/^_INBOX\.[A-Za-z0-9]{22}\.[A-Za-z0-9]+$/.test(m.subject), `reply ${i} came on ${m.subject}, want _INBOX.<nuid>.<token>`);
  }
  console.log(`     1000 requests in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
  eq(served, 1000, "requests served");
  const h = headers();
  h.append("K", "1");
  h.append("K", "2");
  h.append("K", "3");
  h.append("Other-Key", "x");
  const m = await req.request(subj, Buffer.from("hdr"), { timeout: 5000, headers: h });
  eq(Buffer.from(m.data).toString(), "re:hdr", "reply with headers");
  eq(m.headers ? m.headers.toRecord() : null, h.toRecord(), "headers echoed by the responder");
}

async function noResponders() {
  const nc = await conn("js-nr");
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    let err = null;
    try {
      await nc.request(`nobody.${uniq()}.${i}`, Buffer.from("x"), { timeout: 5000 });
    } catch (e) {
      err = e;
    }
    const el = Date.now() - t0;
    check(err && err.code === ErrorCode.NoResponders, `request ${i}: ${err ? err.code + " " + err.message : "succeeded"}, want NoResponders (503)`);
    check(el < 1000, `no-responders took ${el} ms (must be < 1 s)`);
  }
  await nc.flush();
}

async function headersRoundTrip() {
  const pub = await conn("js-h-pub");
  const sub = await conn("js-h-sub");
  const subj = `jhdr.${uniq()}`;
  const got = [];
  sub.subscribe(subj, { callback: (err, m) => { if (!err) got.push(m); } });
  await sub.flush();
  const specs = [
    [["X-Multi", "one"], ["X-Multi", "two"], ["X-Multi", "three"], ["X-Multi", "two"]],
    [["x-lower", "a"], ["X-Lower", "b"], ["X-Lower", "c"], ["MiXeD-CaSe", "v1"], ["MiXeD-CaSe", "v2"]],
    [["Key", "value with spaces"], ["Key", "a:b:c"], ["Key", "ünïcode"], ["Nats-Msg-Id", "id-1"]],
    [["Only", "x"]],
  ];
  const hs = specs.map((kv) => { const h = headers(); for (const [k, v] of kv) h.append(k, v); return h; });
  hs.forEach((h, i) => pub.publish(subj, i % 2 === 0 ? Buffer.from(`body-${i}`) : Buffer.alloc(0), { headers: h }));
  await pub.flush();
  await waitUntil(() => got.length >= hs.length, 5000, "header messages");
  await sub.flush();
  eq(got.length, hs.length, "message count");
  hs.forEach((h, i) => {
    eq(got[i].headers.toRecord(), h.toRecord(), `headers ${i}`);
    eq(Buffer.from(got[i].data).toString(), i % 2 === 0 ? `body-${i}` : "", `body ${i}`);
  });
}

async function autoUnsub() {
  const pub = await conn("js-au-pub");
  const sub = await conn("js-au-sub");
  const subj = `jau.${uniq()}`;
  const a = [];
  const b = [];
  const sa = sub.subscribe(subj, { max: 5, callback: (err, m) => { if (!err) a.push(Buffer.from(m.data).toString()); } });
  const sb = sub.subscribe(subj, { callback: (err, m) => { if (!err) b.push(Buffer.from(m.data).toString()); } });
  sb.unsubscribe(7);
  await sub.flush();
  for (let i = 0; i < 20; i++) pub.publish(subj, Buffer.from(`m${i}`));
  await pub.flush();
  await sub.flush();
  await sleep(100);
  eq(a, ["m0", "m1", "m2", "m3", "m4"], "subscribe {max: 5} receives exactly 5");
  eq(b, ["m0", "m1", "m2", "m3", "m4", "m5", "m6"], "unsubscribe(7) receives exactly 7");
  check(sa.isClosed() && sb.isClosed(), "subscriptions closed after max");
}

async function main() {
  if (!url) {
    console.log("SKIP: SLUICE_NATS_URL is not set (run through natsh.py run)");
    process.exit(77);
  }
  setTimeout(() => { console.log("FAIL: nats_js_test: time limit (240 s) exceeded"); process.exit(1); }, 240000).unref();
  console.log(`nats.js ${require("nats/package.json").version} against ${url} (${kind})`);
  await section("10,000 random payloads 0 B-64 KiB, byte-exact, in order (PUB)", () => payloads(false));
  await section("10,000 random payloads 0 B-64 KiB with headers, byte-exact, in order (HPUB)", () => payloads(true));
  if (kind !== "external") await section("wildcards: the §9 subjects exactly", () => wildcards(""));
  await section("wildcards under a unique prefix", () => wildcards(`jw${uniq()}`));
  await section("queue group of 2 + a plain subscriber", queueGroup);
  await section("1,000 requests + headers", requests);
  await section("no responders fail fast (NoResponders < 1 s)", noResponders);
  await section("headers with repeated keys round-trip", headersRoundTrip);
  await section("subscribe {max: n} / unsubscribe(n) receive exactly n", autoUnsub);
  if (failures.length) {
    console.log(`FAIL: nats_js_test: failed sections: ${failures.join(", ")}`);
    process.exit(1);
  }
  console.log(`PASS: nats_js_test (${checks} checks)`);
  process.exit(0);
}

main().catch((e) => { console.log(`FAIL: nats_js_test: ${e.stack}`); process.exit(1); });
