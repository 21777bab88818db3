// kafka_platformatic_test: @platformatic/kafka 2.x (npm) against a real sluice-server.
//
// The client picks, for every API, the highest version it implements up to the broker's
// advertised maximum: the test prints those picks (the first run of this client found Fetch v12
// sent with topic ids, which v12 does not have). Admin: createTopics (2 partitions), metadata,
// listOffsets. Producer: keys, headers (Buffers, empty values), null values, explicit partitions
// and timestamps, uncompressed and with gzip, snappy and lz4; each send's reported offsets are the next of
// its partition. Consumer group: consume from the earliest, commit half way, close; a new
// consumer of the same group resumes right after the committed offset; every message (offset,
// key, value, headers, timestamp) is compared byte for byte with what was sent. Then the
// committed offsets through the admin API, listGroups by type, and deleteTopics (the topic is gone from listTopics).
// Run: node kafka_platformatic_test.js (starts a broker through harness.py) or under harness.py.
'use strict'
const crypto = require('crypto')
const fs = require('fs')
const path = require('path')
const U = require('./kjs_util')

const NAME = 'kafka_platformatic_test'
const bootstrap = U.bootstrapOrReexec(__filename)
const ck = new U.Checker(NAME)
setTimeout(() => {
  console.log(`FAIL: ${NAME}: time limit (150 s) exceeded`)
  process.exit(1)
}, 150000)

const PKG = path.join(__dirname, 'node_modules', '@platformatic', 'kafka')
if (!fs.existsSync(PKG)) {
  console.log(`SKIP: ${NAME}: ${PKG} missing (run scripts/setup.sh)`)
  process.exit(U.SKIP)
}

const TOPIC = U.unique('plt')
const GROUP = U.unique('plt-group')
const PARTITIONS = 2
// zstd needs node:zlib's zstd (Node.js 22.15+): the client refuses it on Debian 12's Node.js 20.
const CODECS = ['none', 'gzip', 'snappy', 'lz4']
const PER_SEND = 7
const sent = [[], []] // partition -> [{offset, key, value, headers, ts}] in offset order

// A bounded wait for n messages from a stream (rejects on a stream error or the deadline).
function take(stream, n, timeoutMs, onMessage) {
  return new Promise((resolve, reject) => {
    const got = []
    const timer = setTimeout(() => reject(new U.CheckFailed(`got ${got.length} of ${n} messages in ${timeoutMs} ms`)), timeoutMs)
    stream.on('error', e => { clearTimeout(timer); reject(e) })
    stream.on('data', async m => {
      got.push(m)
      if (onMessage) await onMessage(m, got.length)
      if (got.length === n) { clearTimeout(timer); resolve(got) }
    })
  })
}

const norm = m => ({
  partition: m.partition, offset: String(m.offset), key: U.hex(m.key), value: U.hex(m.value),
  headers: [...m.headers.entries()].map(([k, v]) => [U.hex(k), U.hex(v)]), ts: String(m.timestamp),
})
const want = (partition, w) => ({
  partition, offset: String(w.offset), key: U.hex(w.key), value: U.hex(w.value),
  headers: w.headers.map(([k, v]) => [U.hex(Buffer.from(k)), U.hex(v)]), ts: String(w.ts),
})

// The package asks for Node.js >= 22; Debian 12's is 20, which lacks only this of what the
// client uses (ES2024): the same few lines the specification gives.
if (!Promise.withResolvers) {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

async function main() {
  const K = await import('@platformatic/kafka')
  const base = { clientId: 'sluice-platformatic-test', bootstrapBrokers: [bootstrap], retries: 3, timeout: 10000 }
  const admin = new K.Admin(base)
  let producer, consumer

  await ck.section('ApiVersions: what the client picks', async () => {
    // The client keeps the broker's ranges; its own versions are the apis module's <name>V<n>.
    const apis = await admin.listApis()
    const picks = []
    // Broker-to-broker APIs (Kafka advertises them too): a client library never sends them.
    const interBroker = new Set(['WriteTxnMarkers'])
    for (const a of apis) {
      if (interBroker.has(a.name)) continue
      const lower = a.name.slice(0, 1).toLowerCase() + a.name.slice(1)
      let v = a.maxVersion
      while (v >= a.minVersion && !K[`${lower}V${v}`]) v--
      picks.push(`${a.name} ${a.minVersion}-${a.maxVersion}: ${v >= a.minVersion ? 'v' + v : 'none'}`)
      ck.ok(v >= a.minVersion, `the client has a version of ${a.name} in ${a.minVersion}-${a.maxVersion}`)
      // Never a version the client would send with fields the broker's range does not know.
      ck.ok(v === a.maxVersion || !K[`${lower}V${a.maxVersion}`], `${a.name}: picked the broker's max`)
    }
    console.log('     ' + picks.join('\n     '))
  })

  await ck.section('admin: createTopics, metadata, listTopics', async () => {
    const created = await admin.createTopics({ topics: [TOPIC], partitions: PARTITIONS, replicas: 1 })
    ck.eq(created.map(t => [t.name, t.partitions]), [[TOPIC, PARTITIONS]], 'created topic')
    ck.ok(/^[0-9a-f-]{36}$/.test(created[0].id) && created[0].id !== '00000000-0000-0000-0000-000000000000',
      `a topic id: ${created[0].id}`)
    const md = await admin.metadata({ topics: [TOPIC] })
    const t = md.topics.get(TOPIC)
    ck.eq(t.partitionsCount, PARTITIONS, 'metadata partitions')
    ck.eq(t.id, created[0].id, 'metadata topic id = created id')
    ck.ok(md.brokers.size === 1, 'one broker')
    ck.ok((await admin.listTopics()).includes(TOPIC), 'listTopics has the topic')
  })

  await ck.section('producer: every codec, keys, headers, timestamps, explicit partitions', async () => {
    producer = new K.Producer({ ...base, acks: -1 })
    const t0 = BigInt(Date.now() - 3600 * 1000)
    let seq = 0
    for (const codec of CODECS) {
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const msgs = []
        for (let i = 0; i < PER_SEND; i++, seq++) {
          const size = [0, 1, 100, 3000][i % 4]
          const value = i === 3 ? null : i % 2 ? crypto.randomBytes(size) : Buffer.from(`${codec}-${i},`.repeat(size / 6 + 1))
          const key = i === 5 ? null : Buffer.from(`k-${codec}-${partition}-${i}`)
          const headers = i % 3 === 0 ? [] : [['h', Buffer.from(`v${seq}`)], ['bin', crypto.randomBytes(i)], ['empty', Buffer.alloc(0)]]
          const ts = t0 + BigInt(seq * 10 + ((seq * 7919) % 3000) - 1500)
          msgs.push({ topic: TOPIC, partition, key, value, timestamp: ts, headers: new Map(headers.map(([k, v]) => [Buffer.from(k), v])),
            w: { key, value: value === null ? null : value, headers, ts } })
        }
        const r = await producer.send({ messages: msgs.map(({ w, ...m }) => m), compression: codec })
          .catch(e => { throw new U.CheckFailed(`${codec} p${partition}: ${why(e)}`) })
        const first = sent[partition].length
        ck.eq(r.offsets.map(o => [o.topic, o.partition, String(o.offset)]), [[TOPIC, partition, String(first)]],
          `${codec} p${partition}: base offset`)
        msgs.forEach((m, i) => sent[partition].push({ offset: first + i, ...m.w }))
      }
    }
  })

  await ck.section('admin: listOffsets (earliest, latest)', async () => {
    for (const [ts, what] of [[-2n, 'earliest'], [-1n, 'latest']]) {
      const r = await admin.listOffsets({ topics: [{ name: TOPIC, partitions: [0, 1].map(p => ({ partitionIndex: p, timestamp: ts })) }] })
      const got = r[0].partitions.map(p => [p.partitionIndex, String(p.offset)]).sort()
      ck.eq(got, [0, 1].map(p => [p, String(what === 'earliest' ? 0 : sent[p].length)]), `${what} offsets`)
    }
  })

  const total = sent[0].length + sent[1].length
  ck.ok(total === CODECS.length * PARTITIONS * PER_SEND, `all ${total} messages sent`)
  const half = { 0: Math.floor(sent[0].length / 2), 1: Math.floor(sent[1].length / 3) } // next to read after the commit

  await ck.section('consumer group: consume from the earliest, commit part, close', async () => {
    consumer = new K.Consumer({ ...base, groupId: GROUP, sessionTimeout: 10000, heartbeatInterval: 1000 })
    const stream = await consumer.consume({ topics: [TOPIC], mode: 'earliest', autocommit: false, maxWaitTime: 200 })
    const got = await take(stream, total, 30000)
    for (let p = 0; p < PARTITIONS; p++) {
      const mine = got.filter(m => m.partition === p).map(norm)
      ck.eq(mine, sent[p].map(w => want(p, w)), `partition ${p}: every message as sent`)
    }
    for (let p = 0; p < PARTITIONS; p++) await got.filter(m => m.partition === p)[half[p] - 1].commit()
    await stream.close()
    const committed = await consumer.listCommittedOffsets({ topics: [{ topic: TOPIC, partitions: [0, 1] }] })
    ck.eq([...committed.get(TOPIC)].map(String), [String(half[0]), String(half[1])], 'committed offsets')
    await consumer.close()
  })

  await ck.section('a new consumer of the group resumes after the committed offsets', async () => {
    consumer = new K.Consumer({ ...base, groupId: GROUP, sessionTimeout: 10000, heartbeatInterval: 1000 })
    const stream = await consumer.consume({ topics: [TOPIC], mode: 'committed', fallbackMode: 'fail', autocommit: false, maxWaitTime: 200 })
    const rest = sent[0].length - half[0] + sent[1].length - half[1]
    const got = await take(stream, rest, 30000)
    for (let p = 0; p < PARTITIONS; p++) {
      ck.eq(got.filter(m => m.partition === p).map(norm), sent[p].slice(half[p]).map(w => want(p, w)), `partition ${p}: the rest`)
    }
    await stream.close()
    await consumer.close()
    const groups = await admin.listConsumerGroupOffsets({ groups: [GROUP] })
    const parts = groups[0].topics.find(t => t.name === TOPIC).partitions
    ck.eq(parts.map(p => [p.partitionIndex, String(p.committedOffset)]).sort(), [[0, String(half[0])], [1, String(half[1])]],
      'admin: the group\'s committed offsets')
  })

  await ck.section('admin: listGroups by type (ListGroups v5: every group is classic)', async () => {
    const classic = await admin.listGroups({ types: ['classic'] })
    const g = classic.get(GROUP)
    ck.ok(g, 'the group is listed as classic')
    ck.eq([g.id, g.groupType, g.protocolType, g.state], [GROUP, 'classic', 'consumer', 'Empty'], 'the listed group')
    ck.ok(!(await admin.listGroups({ types: ['consumer'] })).has(GROUP), 'no group of the consumer (KIP-848) type')
  })

  await ck.section('admin: deleteTopics', async () => {
    await admin.deleteTopics({ topics: [TOPIC] })
    await U.until(async () => !(await admin.listTopics()).includes(TOPIC), 10000, 'topic gone from listTopics')
  })

  for (const c of [producer, admin]) if (c) await c.close().catch(() => {})
  ck.finish()
}

// AggregateError's causes (the client wraps every failure in one).
function why(e) {
  return e && e.errors ? `${e.message}: ${e.errors.map(why).join('; ')}` : String(e && (e.stack || e))
}

main().catch(e => {
  console.log(`FAIL: ${NAME}: ${e.stack || e}`)
  process.exit(1)
})
