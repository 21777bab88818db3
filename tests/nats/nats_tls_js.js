// nats_tls_js.js: nats.js (npm `nats` 2.x) over TLS with each kind of NATS auth, run by
// nats_tls_test.py against nats-server 2.9.10 and then Sluice.
//   node nats_tls_js.js keys                              prints "SEED PUBLIC" of a new user nkey
//   node nats_tls_js.js URL CA user USER PASS | token TOKEN | nkey SEED   a round trip
//   node nats_tls_js.js URL CA refused user USER PASS | token TOKEN | nkey SEED
// NATS_TLS_CERT / NATS_TLS_KEY add a client certificate (mTLS); with refused-tls the connection
// must fail without an authorization error (the handshake is what refuses it).
// A round trip: one connection subscribes, another publishes 300 payloads of 0-64 KiB, every byte
// and the order checked, then a request/reply; INFO must say tls_required. refused: the connect
// must fail with AUTHORIZATION_VIOLATION. Exit 0 pass, 1 fail.
"use strict";
const crypto = require("crypto");
const { connect, nkeyAuthenticator, nkeys, ErrorCode } = require("nats");

function fail(msg) {
  console.error("FAIL: " + msg);
  process.exit(1);
}

function options(url, ca, kind, a, b) {
  const o = { servers: url, tls: { caFile: ca }, timeout: 5000, reconnect: false, name: "nats-tls-js" };
  if (process.env.NATS_TLS_CERT) {
    o.tls.certFile = process.env.NATS_TLS_CERT;
    o.tls.keyFile = process.env.NATS_TLS_KEY;
  }
  if (kind === "user") Object.assign(o, { user: a, pass: b });
  else if (kind === "token") o.token = a;
  else if (kind === "nkey") o.authenticator = nkeyAuthenticator(new TextEncoder().encode(a));
  else if (kind !== "none") fail("unknown auth " + kind);
  return o;
}

async function roundTrip(o, label) {
  const sub = await connect(o);
  const pub = await connect(o);
  if (!sub.info.tls_required) fail(label + ": INFO without tls_required");
  const n = 300;
  const want = Array.from({ length: n }, (_, i) => crypto.randomBytes((i * 7919) % 65537));
  const s = sub.subscribe("tls.js", { max: n });
  sub.subscribe("tls.svc", { callback: (err, m) => { if (!err) m.respond(m.data); } });
  await sub.flush();
  const got = (async () => {
    const out = [];
    for await (const m of s) out.push(m.data);
    return out;
  })();
  for (const w of want) pub.publish("tls.js", w);
  await pub.flush();
  const timer = new Promise((_, rej) => setTimeout(() => rej(new Error(label + ": messages did not all arrive")), 20000));
  const msgs = await Promise.race([got, timer]);
  if (msgs.length !== n) fail(`${label}: ${msgs.length} messages, want ${n}`);
  msgs.forEach((m, i) => {
    if (!Buffer.from(m).equals(want[i])) fail(`${label}: message ${i}: ${m.length} bytes, want ${want[i].length}`);
  });
  const q = crypto.randomBytes(1000);
  const r = await pub.request("tls.svc", q, { timeout: 5000 });
  if (!Buffer.from(r.data).equals(q)) fail(label + ": reply differs");
  await pub.close();
  await sub.close();
  console.log(`${label}: ${n} messages over TLS, every byte in order, and a request/reply`);
}

(async () => {
  const args = process.argv.slice(2);
  if (args[0] === "keys") {
    const kp = nkeys.createUser();
    console.log(new TextDecoder().decode(kp.getSeed()) + " " + kp.getPublicKey());
    return;
  }
  const [url, ca, mode, ...rest] = args;
  if (mode === "refused" || mode === "refused-tls") {
    const label = mode + " " + rest[0];
    let err = null;
    try {
      const nc = await connect(options(url, ca, ...rest));
      await nc.flush(); // TLS 1.3: a refused certificate shows at the first round trip
      await nc.close();
    } catch (e) {
      err = e;
    }
    if (!err) fail(label + ": connected");
    if (mode === "refused" && err.code !== ErrorCode.AuthorizationViolation)
      fail(`${label}: ${err.code} ${err.message}, want ${ErrorCode.AuthorizationViolation}`);
    if (mode === "refused-tls" && err.code === ErrorCode.AuthorizationViolation)
      fail(label + ": refused by auth, not by the handshake");
    console.log(`${label}: refused (${err.code}: ${err.message})`);
    return;
  }
  await roundTrip(options(url, ca, mode, ...rest), mode);
})().then(() => process.exit(0), (e) => fail(e.stack || e));
