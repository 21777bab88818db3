// kafka_kafkajs_groups_test: kafkajs 2.2.4 consumer groups against a real sluice-server.
// Skipped (exit 77) unless SLUICE_GROUPS is set: consumer groups come with a later issue.
//
// Two partitions, 60 messages with keys, headers and timestamps. A group consumer subscribed
// fromBeginning must get every message exactly once, in offset order per partition, byte-exact;
// it commits and leaves. 20 more messages are produced; a new consumer in the same group must
// start from the committed offsets and get exactly those 20.
'use strict'
const crypto = require('crypto')
const U = require('./kjs_util')

const NAME = 'kafka_kafkajs_groups_test'
if (!process.env.SLUICE_GROUPS) {
  console.log(`SKIP: ${NAME}: set SLUICE_GROUPS=1 once the broker has consumer groups`)
  process.exit(U.SKIP)
}
const bootstrap = U.bootstrapOrReexec(__filename)
const { Kafka, logLevel } = U.loadKafkajs(NAME)
const ck = new U.Checker(NAME)
setTimeout(() => {
  console.log(`FAIL: ${NAME}: time limit (240 s) exceeded`)
  process.exit(1)
}, 240000)

const kafka = new Kafka({ clientId: 'sluice-kafkajs-groups', brokers: [bootstrap], logLevel: logLevel.ERROR })
const tsBase = Date.now() - 3600 * 1000

function makeMessages(from, n) {
  const out = []
  for (let i = from; i < from + n; i++) {
    out.push({ partition: i % 2, key: Buffer.from(`key-${i}`), value: crypto.randomBytes(i * 13 % 700),
      headers: { n: Buffer.from(String(i)) }, timestamp: String(tsBase + i) })
  }
  return out
}

// Consumes with a fresh consumer of `group` until `count` messages arrived (bounded).
async function consumeGroup(topic, group, count, fromBeginning) {
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 1000 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning })
  const got = { 0: [], 1: [] }
  let n = 0
  let done
  const all = new Promise(resolve => { done = resolve })
  await consumer.run({
    autoCommit: true,
    eachMessage: async ({ partition, message }) => {
      got[partition].push(message)
      if (++n >= count) done()
    },
  })
  await Promise.race([all, new Promise(resolve => setTimeout(resolve, 60000))])
  await new Promise(resolve => setTimeout(resolve, 1000)) // anything extra would arrive now
  await consumer.commitOffsets([]).catch(() => {})
  await consumer.disconnect() // commits what was consumed, then leaves the group
  return got
}

function compare(got, sent, firstOffset) {
  for (const p of [0, 1]) {
    const want = sent.filter(m => m.partition === p)
    ck.eq(got[p].length, want.length, `partition ${p}: number of messages`)
    want.forEach((m, i) => {
      const g = got[p][i]
      const w = `partition ${p} message ${i}`
      ck.eq(Number(g.offset), firstOffset[p] + i, `${w}: offset`)
      ck.eq(U.hex(g.key), U.hex(m.key), `${w}: key`)
      ck.eq(U.hex(g.value), U.hex(m.value), `${w}: value`)
      ck.eq(U.hex(g.headers.n), U.hex(m.headers.n), `${w}: header`)
      ck.eq(g.timestamp, m.timestamp, `${w}: timestamp`)
    })
  }
}

async function main() {
  const topic = U.unique('kjs-group')
  const group = U.unique('kjs-g')
  const admin = kafka.admin()
  await admin.connect()
  ck.eq(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }), true,
    'createTopics')
  const producer = kafka.producer()
  await producer.connect()
  const first = makeMessages(0, 60)
  await producer.send({ topic, acks: -1, messages: first })

  await ck.section('group consumer from the beginning', async () => {
    compare(await consumeGroup(topic, group, first.length, true), first, { 0: 0, 1: 0 })
  })
  const second = makeMessages(60, 20)
  await producer.send({ topic, acks: -1, messages: second })
  await ck.section('new member resumes from the committed offsets', async () => {
    compare(await consumeGroup(topic, group, second.length, true), second, { 0: 30, 1: 30 })
  })
  await producer.disconnect()
  await admin.disconnect()
  ck.finish()
}

main().catch(e => {
  console.log(`FAIL: ${NAME}: ${e.stack || e}`)
  process.exit(1)
})
