// nats_backpressure_test.js: a fast publisher and a slower subscriber on ONE nats.js connection
// (the NATS server in SLUICE_NATS_URL, started by natsh.py). The publisher sends 20,000 random
// payloads of 0 B-64 KiB as fast as nats.js takes them (no window, no flush in between); the
// subscriber's async handler is slower than the publisher. nats-server copes by stalling the fast
// producer while the subscriber's pending bytes are high (client.go stalledWait); a server that
// only counts pending bytes cuts the subscriber off as a slow consumer instead. Every message must
// arrive byte-exact and in order, and the connection must end without an error.
// Exit 0 pass, 1 fail, 77 skip.
"use strict";

let nats;
try {
  nats = require("nats");
} catch (e) {
  console.log("SKIP: npm package nats missing (run scripts/setup.sh): " + e.message);
  process.exit(77);
}
const crypto = require("crypto");

const url = process.env.SLUICE_NATS_URL;
const N = Number(process.env.NBP_COUNT || 20000);
const MAXP = 64 * 1024;
const DEADLINE_MS = 200000;

function fail(msg) {
  console.log(`FAIL: ${msg}`);
  process.exit(1);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  console.log(`server ${process.env.SLUICE_NATS_KIND || "?"} ${url}`);
  // Payload i = a random slice of one random 4 MiB block: cheap to keep, byte-exact to check.
  const block = crypto.randomBytes(4 << 20);
  const specs = [];
  let total = 0;
  for (let i = 0; i < N; i++) {
    let len = crypto.randomInt(MAXP + 1);
    if (i === 0) len = 0;
    if (i === 1) len = MAXP;
    specs.push([crypto.randomInt(block.length - len + 1), len]);
    total += len;
  }
  const pay = (i) => block.subarray(specs[i][0], specs[i][0] + specs[i][1]);

  let nc;
  try {
    nc = await nats.connect({ servers: url, name: "backpressure", reconnect: false, timeout: 5000 });
  } catch (e) {
    fail(`connect to ${url}: ${e.message}`);
  }
  let connErr = null;
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" || s.type === "disconnect") connErr = connErr || `${s.type}: ${s.data}`;
    }
  })().catch(() => {});
  const closed = nc.closed().then((err) => {
    if (err) connErr = connErr || `closed: ${err.message}`;
    connErr = connErr || "connection closed";
  });

  const subj = `bp.${process.pid}.${Date.now()}`;
  const sub = nc.subscribe(subj);
  let received = 0;
  let bytes = 0;
  let firstErr = null;
  const consumer = (async () => {
    for await (const m of sub) {
      const k = received++;
      bytes += m.data.length;
      if (!firstErr && Buffer.compare(Buffer.from(m.data), pay(k)) !== 0) {
        firstErr = `message ${k}: ${m.data.length} bytes differ from the ${specs[k][1]} published`;
      }
      // The slow part: a little work per message and a real wait every 50 messages.
      crypto.createHash("sha256").update(m.data).digest();
      if (k % 50 === 0) await sleep(1);
      if (received >= N) break;
    }
  })();
  await nc.flush();

  const t0 = Date.now();
  for (let i = 0; i < N; i++) nc.publish(subj, pay(i));
  console.log(`     published ${N} messages, ${(total / 1e6).toFixed(1)} MB in ${Date.now() - t0} ms`);

  const end = Date.now() + DEADLINE_MS;
  while (received < N && !firstErr && !connErr) {
    if (Date.now() > end) fail(`timed out: ${received} of ${N} received`);
    await sleep(5);
  }
  if (firstErr) fail(firstErr);
  if (connErr) fail(`connection failed after ${received} of ${N} messages: ${connErr}`);
  await consumer;
  await nc.flush();
  if (connErr) fail(`connection failed at the end: ${connErr}`);
  if (received !== N) fail(`received ${received}, want ${N}`);
  if (bytes !== total) fail(`received ${bytes} payload bytes, want ${total}`);
  console.log(`     received ${N} messages, ${(bytes / 1e6).toFixed(1)} MB in ${Date.now() - t0} ms, in order, byte-exact`);
  await nc.close();
  await closed;
  console.log("PASS");
}

main().catch((e) => fail(e.stack));
