// kafka_sasl_kafkajs.js: kafkajs over SASL_PLAINTEXT (run by kafka_sasl_test.py, which starts the
// broker): PLAIN, SCRAM-SHA-512 and SCRAM-SHA-256 produce + consume, every value compared, and a
// wrong password refused with KafkaJSSASLAuthenticationError carrying the broker's message.
const { Kafka, logLevel } = require(require('path').join(__dirname, 'node_modules', 'kafkajs'));
async function run(mechanism, username, password) {
  const kafka = new Kafka({ brokers: [process.env.SLUICE_KAFKA_BOOTSTRAP], clientId: 'kjs', logLevel: logLevel.NOTHING,
    sasl: { mechanism, username, password }, retry: { retries: 1 } });
  const topic = 'kjs-' + mechanism.toLowerCase() + '-' + process.pid;
  const p = kafka.producer(); await p.connect();
  const vals = Array.from({length: 5}, (_, i) => `v-${mechanism}-${i}-${Math.random()}`);
  const [r] = await p.send({ topic, messages: vals.map(v => ({ value: v })) }); await p.disconnect();
  const c = kafka.consumer({ groupId: 'g-' + Math.random() }); await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((res, rej) => { const t = setTimeout(() => rej(new Error('timeout')), 20000);
    c.run({ eachMessage: async ({ message }) => { got.push(message.value.toString()); if (got.length >= vals.length) { clearTimeout(t); res(); } } }); });
  await c.disconnect();
  const tail = got.slice(-5);
  if (JSON.stringify(tail) !== JSON.stringify(vals)) throw new Error(mechanism + ' mismatch ' + tail);
  console.log(mechanism, 'ok', r.baseOffset);
}
(async () => {
  await run('plain', 'alice', 'alice-secret');
  await run('scram-sha-512', 'admin', 'admin-secret');
  await run('scram-sha-256', 'admin', 'admin-secret');
  let err = null;
  try { await run('scram-sha-512', 'admin', 'wrong'); } catch (e) { err = e; }
  if (!err || err.name !== 'KafkaJSSASLAuthenticationError' ||
      !err.message.includes('invalid credentials with SASL mechanism SCRAM-SHA-512'))
    throw new Error('wrong password: ' + (err ? err.name + ': ' + err.message : 'accepted'));
  console.log('wrong password:', err.name);
  process.exit(0);
})().catch(e => { console.error('FAIL', e); process.exit(1); });
