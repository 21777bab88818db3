// kafka_tls_kafkajs.js: kafkajs over SSL and SASL_SSL (run by kafka_sasl_ssl_test.py, which starts
// the brokers and makes the certificates).
//   node kafka_tls_kafkajs.js BOOTSTRAP ssl CA CERT KEY          (the broker runs tls_verify)
//   node kafka_tls_kafkajs.js BOOTSTRAP sasl CA MECHANISM USER PASSWORD [wrong]
// Produces 30 values of varied sizes to partition 0 of a fresh topic, then a consumer group reads
// them: every offset and every byte must come back. With `wrong` the login must fail with
// KafkaJSSASLAuthenticationError carrying the broker's message.
const fs = require('fs');
const crypto = require('crypto');
const { Kafka, logLevel } = require(require('path').join(__dirname, 'node_modules', 'kafkajs'));

async function roundTrip(kafka, label) {
  const topic = 'kjs-tls-' + label + '-' + process.pid + '-' + crypto.randomBytes(3).toString('hex');
  const p = kafka.producer();
  await p.connect();
  const vals = Array.from({ length: 30 }, (_, i) => crypto.randomBytes(1 + ((i * 7919) % 20000)));
  const offsets = [];
  for (const v of vals) { // one send each: every value gets its own offset back
    const [r] = await p.send({ topic, acks: -1, messages: [{ value: v, partition: 0 }] });
    offsets.push(Number(r.baseOffset));
  }
  await p.disconnect();
  offsets.forEach((o, i) => { if (o !== i) throw new Error(`${label}: offset ${o} for value ${i}`); });
  const c = kafka.consumer({ groupId: 'g-' + label + '-' + process.pid });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(label + ': timeout, got ' + got.length)), 20000);
    c.run({ eachMessage: async ({ partition, message }) => {
      got.push([partition, Number(message.offset), message.value]);
      if (got.length >= vals.length) { clearTimeout(t); res(); }
    } });
  });
  await c.disconnect();
  if (got.length !== vals.length) throw new Error(`${label}: ${got.length} messages`);
  got.forEach(([part, off, v], i) => {
    if (part !== 0 || off !== i || !v.equals(vals[i]))
      throw new Error(`${label}: message ${i} at ${part}/${off}, ${v.length} bytes, want 0/${i}, ${vals[i].length}`);
  });
  console.log(`${label} ok: ${vals.length} messages at offsets 0-${vals.length - 1}, every byte`);
}

(async () => {
  const [boot, mode, ca, ...rest] = process.argv.slice(2);
  const base = { brokers: [boot], clientId: 'kjs-tls', logLevel: logLevel.NOTHING, retry: { retries: 1 } };
  if (mode === 'ssl') {
    const [cert, key] = rest;
    const ssl = { ca: [fs.readFileSync(ca)], cert: fs.readFileSync(cert), key: fs.readFileSync(key), servername: 'localhost' };
    await roundTrip(new Kafka({ ...base, ssl }), 'ssl');
  } else if (mode === 'sasl') {
    const [mechanism, username, password, wrong] = rest;
    const kafka = new Kafka({ ...base, ssl: { ca: [fs.readFileSync(ca)], servername: 'localhost' },
      sasl: { mechanism, username, password } });
    if (wrong !== 'wrong') {
      await roundTrip(kafka, mechanism);
    } else {
      let err = null;
      const p = kafka.producer();
      try { await p.connect(); } catch (e) { err = e; }
      if (!err || err.name !== 'KafkaJSSASLAuthenticationError')
        throw new Error('wrong password: ' + (err ? err.name + ': ' + err.message : 'accepted'));
      console.log('wrong password refused:', err.name + ':', err.message);
    }
  } else {
    throw new Error('usage: BOOTSTRAP ssl CA CERT KEY | BOOTSTRAP sasl CA MECH USER PASS [wrong]');
  }
  process.exit(0);
})().catch(e => { console.error('FAIL', e); process.exit(1); });
