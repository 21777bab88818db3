// kafka_kafkajs_test: kafkajs 2.2.4 against a real sluice-server (no consumer group: see
// kafka_kafkajs_groups_test.js).
//
// Admin: createTopics (2 partitions; a second create returns false), fetchTopicMetadata,
// describeCluster, deleteTopics + listTopics. Producer: send() with keys, headers (repeated names
// as arrays, Buffers, empty values), explicit timestamps, null/empty keys and values, with acks
// -1, 1 and 0 and GZIP; each acked send must report the next base offset of every partition (a
// send after an acks=0 one proves those messages were stored). sendBatch() to two topics, one of
// them auto-created. kafkajs cannot read without a group, so confluent-kafka (ckutil.py dump)
// reads everything back and every message is compared byte for byte.
// Transactions (a section of its own, skipped with its reason unless the broker advertises EndTxn,
// ApiVersions key 26): a transactional producer commits 2 records, aborts 1 (sent, so it is in
// the log) and commits 1 more to partition 0; read back read_committed (confluent-kafka's
// default isolation), only the committed 3 come back, after each transaction a marker offset.
// SLUICE_TXN_ONLY=1 runs that section alone, which is how it is proven on librdkafka 2.0.2's
// mock cluster (SLUICE_PEER=mock): there all 4 come back at offsets 0-3 (the mock writes no
// markers and lists no aborted transactions). The producer is made with idempotent: false
// because kafkajs then asks the controller for an idempotent producer id at connect(), and the
// mock names none; transaction() gets its own id from the transaction coordinator either way.
// Run: node kafka_kafkajs_test.js (starts a broker through harness.py) or under harness.py run.
'use strict'
const crypto = require('crypto')
const U = require('./kjs_util')

const NAME = 'kafka_kafkajs_test'
const bootstrap = U.bootstrapOrReexec(__filename)
const { Kafka, CompressionTypes, logLevel } = U.loadKafkajs(NAME)
const ck = new U.Checker(NAME)
setTimeout(() => {
  console.log(`FAIL: ${NAME}: time limit (240 s) exceeded`)
  process.exit(1)
}, 240000)

const kafka = new Kafka({ clientId: 'sluice-kafkajs-test', brokers: [bootstrap], logLevel: logLevel.ERROR,
  retry: { retries: 5 } })
const [host, port] = [bootstrap.slice(0, bootstrap.lastIndexOf(':')), Number(bootstrap.split(':').pop())]

let seq = 0
const tsBase = Date.now() - 3600 * 1000
// Messages as sent (kafkajs form) plus what must come back: Buffers, flattened headers.
function msg(partition, key, value, headers = {}) {
  const ts = tsBase + seq * 10 + ((seq * 7919) % 3000) - 1500 // not in order: negative deltas
  seq++
  const buf = v => (v === null ? null : Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8'))
  const flat = []
  for (const k of Object.keys(headers)) {
    for (const v of (Array.isArray(headers[k]) ? headers[k] : [headers[k]])) flat.push([k, buf(v)])
  }
  return {
    send: { partition, key, value, headers, timestamp: String(ts) },
    want: { partition, key: buf(key), value: buf(value), headers: flat, ts },
  }
}

function batch(n, partitions, tag) {
  const out = []
  for (let i = 0; i < n; i++) {
    const size = [0, 1, 10, 100, 1000, 5000][i % 6]
    const value = i % 2 ? crypto.randomBytes(size) : `${tag}-${i},`.repeat(size / 8 + 1)
    out.push(msg(i % partitions, `key-${tag}-${i}`, value, i % 3 ? { h: `v${i}`, b: crypto.randomBytes(i % 17) } : {}))
  }
  return out
}

const counts = {} // topic -> partition -> messages stored so far
const expected = {} // topic -> partition -> [want]

function record(topic, msgs) {
  counts[topic] = counts[topic] || {}
  expected[topic] = expected[topic] || {}
  const base = {}
  for (const m of msgs) {
    const p = m.want.partition
    if (base[p] === undefined) base[p] = counts[topic][p] || 0
    counts[topic][p] = (counts[topic][p] || 0) + 1
    expected[topic][p] = expected[topic][p] || []
    expected[topic][p].push({ ...m.want, offset: expected[topic][p].length })
  }
  return base // partition -> expected base offset of this send
}

function checkResult(result, topic, base, what) {
  const got = result.filter(r => r.topicName === topic)
    .map(r => [r.partition, r.errorCode, Number(r.baseOffset)]).sort((a, b) => a[0] - b[0])
  const want = Object.keys(base).map(Number).sort((a, b) => a - b).map(p => [p, 0, base[p]])
  ck.eq(got, want, `${what}: [partition, errorCode, baseOffset] per partition`)
}

function compareTopic(topic) {
  const got = U.dumpTopic(bootstrap, topic)
  for (const p of Object.keys(expected[topic])) {
    const g = got[p] || []
    const e = expected[topic][p]
    ck.eq(g.length, e.length, `${topic}[${p}]: number of messages`)
    for (let i = 0; i < e.length; i++) {
      const w = `${topic}[${p}] offset ${i}`
      ck.eq(g[i].offset, e[i].offset, `${w}: offset`)
      ck.eq(U.hex(g[i].key), U.hex(e[i].key), `${w}: key`)
      ck.eq(U.hex(g[i].value), U.hex(e[i].value), `${w}: value`)
      ck.eq(g[i].headers.map(([k, v]) => [k, U.hex(v)]), e[i].headers.map(([k, v]) => [k, U.hex(v)]),
        `${w}: headers`)
      ck.eq([g[i].tsType, g[i].ts], [1, e[i].ts], `${w}: timestamp (type 1 = create time)`)
    }
  }
}

async function transactions() {
  await ck.section('transactions: commit, abort, commit (needs EndTxn)', async () => {
    const keys = await U.apiVersions(host, port)
    if (!keys.has(26)) {
      console.log('     skipped: the broker does not advertise EndTxn (ApiVersions key 26)')
      return
    }
    const mock = process.env.SLUICE_PEER === 'mock'
    const ttopic = U.unique('kjs-txn') // auto-created: the mock has no CreateTopics
    const tp = kafka.producer({ transactionalId: U.unique('kjs-txid'), idempotent: false,
      maxInFlightRequests: 1, allowAutoTopicCreation: true })
    await tp.connect()
    const run = async (values, commit) => {
      const t = await tp.transaction()
      await t.send({ topic: ttopic, acks: -1, messages: values.map(v => ({ partition: 0, value: v })) })
      await (commit ? t.commit() : t.abort())
    }
    await run(['c0', 'c1'], true)
    await run(['a0'], false)
    await run(['c2'], true)
    await tp.disconnect()
    const got = (U.dumpTopic(bootstrap, ttopic)[0] || []).map(m => [m.offset, String(m.value)])
    ck.eq(got, mock ? [[0, 'c0'], [1, 'c1'], [2, 'a0'], [3, 'c2']] : [[0, 'c0'], [1, 'c1'], [5, 'c2']],
      mock ? 'read back (mock: no markers, aborted records shown)'
        : 'read_committed: the committed records at their offsets (markers at 2, 4, 6)')
  })
}

async function main() {
  if (process.env.SLUICE_TXN_ONLY === '1') {
    await transactions()
    ck.finish()
    return
  }
  const topic = U.unique('kjs')
  const auto = U.unique('kjs-auto')
  const admin = kafka.admin()
  await admin.connect()
  let brokerId = null

  await ck.section('admin: createTopics, fetchTopicMetadata, describeCluster', async () => {
    ck.eq(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }), true,
      'createTopics result')
    ck.eq(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }), false,
      'createTopics of an existing topic (kafkajs returns false)')
    const cluster = await admin.describeCluster()
    ck.eq(cluster.brokers.map(b => [b.host, b.port]), [[host, port]], 'brokers')
    brokerId = cluster.brokers[0].nodeId
    ck.ok(cluster.brokers.some(b => b.nodeId === cluster.controller), `controller ${cluster.controller} is a listed broker`)
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    ck.eq(md.topics.map(t => t.name), [topic], 'metadata topics')
    const parts = md.topics[0].partitions.map(p => [p.partitionId, p.partitionErrorCode, p.leader, p.replicas, p.isr])
      .sort((a, b) => a[0] - b[0])
    ck.eq(parts, [[0, 0, brokerId, [brokerId], [brokerId]], [1, 0, brokerId, [brokerId], [brokerId]]],
      'partitions [id, error, leader, replicas, isr]')
  })

  const producer = kafka.producer({ allowAutoTopicCreation: true, idempotent: false })
  await producer.connect()

  await ck.section('produce: special messages, acks -1, no compression', async () => {
    const msgs = [
      msg(0, 'k0', 'first', { h1: ['a', 'b'], empty: '', bin: Buffer.from([...Array(256).keys()]) }),
      msg(0, null, 'null key'),
      msg(1, 'null value', null, { h: 'x' }),
      msg(1, 'empty value', Buffer.alloc(0)),
      msg(0, '', 'empty key'),
      msg(1, Buffer.from([...Array(256).keys()]), Buffer.alloc(1024, 7), { '\u00fcn\u00ef': '\u00df' }),
      msg(0, 'big-random', crypto.randomBytes(200 * 1024)),
      msg(1, 'unicode', '\u65e5\u672c\u8a9e \ud83d\ude00'),
    ].concat(batch(30, 2, 'a'))
    const base = record(topic, msgs)
    checkResult(await producer.send({ topic, acks: -1, messages: msgs.map(m => m.send) }), topic, base, 'send 1')
  })

  await ck.section('produce: GZIP with acks 1', async () => {
    const msgs = batch(40, 2, 'b').concat([msg(0, 'big-repetitive', 'kafkajs '.repeat(50000))])
    const base = record(topic, msgs)
    checkResult(await producer.send({ topic, acks: 1, compression: CompressionTypes.GZIP,
      messages: msgs.map(m => m.send) }), topic, base, 'send 2')
  })

  await ck.section('produce: acks 0, then acks -1 GZIP continues after it', async () => {
    const zero = batch(6, 2, 'c')
    record(topic, zero)
    await producer.send({ topic, acks: 0, messages: zero.map(m => m.send) })
    const msgs = batch(10, 2, 'd')
    const base = record(topic, msgs)
    checkResult(await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP,
      messages: msgs.map(m => m.send) }), topic, base, 'send after acks=0')
  })

  await ck.section('sendBatch to two topics (one auto-created)', async () => {
    const a = batch(10, 2, 'e')
    const b = batch(10, 1, 'f')
    const baseA = record(topic, a)
    const baseB = record(auto, b)
    const res = await producer.sendBatch({ acks: -1, compression: CompressionTypes.GZIP, topicMessages: [
      { topic, messages: a.map(m => m.send) }, { topic: auto, messages: b.map(m => m.send) }] })
    checkResult(res, topic, baseA, 'sendBatch first topic')
    checkResult(res, auto, baseB, 'sendBatch auto-created topic')
  })
  await producer.disconnect()

  await ck.section('read back with confluent-kafka and compare', async () => {
    compareTopic(topic)
    compareTopic(auto)
  })

  await ck.section('deleteTopics and listTopics', async () => {
    await admin.deleteTopics({ topics: [topic, auto], timeout: 10000 })
    await U.until(async () => {
      const names = await admin.listTopics()
      return !names.includes(topic) && !names.includes(auto)
    }, 10000, 'deleted topics gone from listTopics')
    ck.ok(true, 'deleted')
  })
  await admin.disconnect()
  await transactions()
  ck.finish()
}

main().catch(e => {
  console.log(`FAIL: ${NAME}: ${e.stack || e}`)
  process.exit(1)
})
