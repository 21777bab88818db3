// groups_kafkajs_test: kafkajs 2.2.4 consumer group members joining and leaving while messages
// flow, against a real sluice-server (started through tests/integration/harness.py, reused as
// is; kafkajs comes from tests/integration/node_modules).
//
// A 4-partition topic; a kafkajs producer sends 1200 keyed messages (explicit partition i % 4,
// acks -1) over ~8 s, recording each message's offset from the produce responses. Members
// (consumer.run + eachMessage, autoCommit with autoCommitThreshold 1, sessionTimeout 6000,
// heartbeatInterval 2000): C1 from the start; C2 joins; C3 joins; C2 leaves (disconnect ->
// LeaveGroup); C1 and C3 to the end. Checks: every message consumed exactly once across the group,
// offset, key and value exact, in offset order per member and partition; each join and leave is
// followed by a rebalance (GROUP_JOIN events) that covers all partitions; the group's committed
// offsets end at the end offsets.
'use strict'
const path = require('path')
const U = require(path.join(__dirname, '..', 'integration', 'kjs_util'))

const NAME = 'groups_kafkajs_test'
const PARTITIONS = 4
const COUNT = 1200
const bootstrap = U.bootstrapOrReexec(__filename)
const { Kafka, logLevel } = U.loadKafkajs(NAME)
const ck = new U.Checker(NAME)
setTimeout(() => {
  console.log(`FAIL: ${NAME}: time limit (200 s) exceeded`)
  process.exit(1)
}, 200000).unref()

// kafkajs logs every REBALANCE_IN_PROGRESS heartbeat answer at ERROR: expected here, not shown.
const logCreator = () => ({ namespace, log }) => {
  if (!/rebalancing/.test(`${log.message} ${log.error}`)) {
    console.log(`kafkajs ${namespace}: ${JSON.stringify(log)}`)
  }
}
const kafka = new Kafka({ clientId: 'sluice-kjs-groups', brokers: [bootstrap], logLevel: logLevel.ERROR,
  logCreator })
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

const consumed = [] // {member, partition, offset, key, value}
const joins = []    // {member, t, partitions}
const errors = []

async function startMember(name, topic, group) {
  const c = kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 2000,
    rebalanceTimeout: 30000, maxWaitTimeInMs: 100 })
  c.on(c.events.GROUP_JOIN, e => {
    const parts = (e.payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b)
    joins.push({ member: name, t: Date.now(), partitions: parts })
  })
  c.on(c.events.CRASH, e => errors.push(`${name}: crash: ${e.payload.error}`))
  await c.connect()
  await c.subscribe({ topic, fromBeginning: true })
  await c.run({
    autoCommit: true,
    autoCommitThreshold: 1,
    eachMessage: async ({ partition, message }) => {
      consumed.push({ member: name, partition, offset: Number(message.offset),
        key: message.key.toString('hex'), value: message.value.toString('hex') })
    },
  })
  return c
}

// The latest assignment of each live member covers every partition exactly once, and every live
// member joined after time t.
function settled(live, t) {
  const latest = {}
  for (const j of joins) latest[j.member] = j
  const seen = []
  for (const m of live) {
    if (!latest[m] || latest[m].t < t) return false
    seen.push(...latest[m].partitions)
  }
  seen.sort((a, b) => a - b)
  return JSON.stringify(seen) === JSON.stringify([...Array(PARTITIONS).keys()])
}

function assignment(live) {
  const latest = {}
  for (const j of joins) latest[j.member] = j.partitions
  return live.map(m => `${m}=${JSON.stringify(latest[m])}`).join(' ')
}

async function main() {
  const topic = U.unique('grp-kjs')
  const group = U.unique('g-kjs')
  const admin = kafka.admin()
  await admin.connect()
  ck.eq(await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true }),
    true, 'createTopics')

  const producer = kafka.producer()
  await producer.connect()
  const sent = new Map() // "p/off" -> {key, value}
  let produceError = null
  const producing = (async () => {
    for (let i = 0; i < COUNT; i += 20) {
      const msgs = []
      for (let j = i; j < i + 20; j++) {
        msgs.push({ partition: j % PARTITIONS, key: Buffer.from(`kjs-key-${j}`),
          value: Buffer.concat([Buffer.from(`kjs-value-${j}-`), Buffer.alloc(j % 61, j % 251)]) })
      }
      const md = await producer.send({ topic, acks: -1, messages: msgs })
      for (const r of md) {
        const mine = msgs.filter(m => m.partition === r.partition)
        mine.forEach((m, k) => sent.set(`${r.partition}/${Number(r.baseOffset) + k}`,
          { key: m.key.toString('hex'), value: m.value.toString('hex') }))
      }
      await sleep(130)
    }
  })().catch(e => { produceError = e })

  const members = {}
  const live = []
  const step = async (what, fn) => {
    const t = Date.now()
    await fn()
    await U.until(() => settled(live, t), 30000, `${what}: rebalance covering every partition`)
    console.log(`     ${what}: ${Date.now() - t} ms; ${assignment(live)}`)
  }

  await ck.section('members join and leave while messages flow', async () => {
    await step('C1 joins', async () => { members.C1 = await startMember('C1', topic, group); live.push('C1') })
    await sleep(1500)
    await step('C2 joins', async () => { members.C2 = await startMember('C2', topic, group); live.push('C2') })
    await sleep(1500)
    await step('C3 joins', async () => { members.C3 = await startMember('C3', topic, group); live.push('C3') })
    await sleep(1500)
    await step('C2 leaves', async () => { live.splice(live.indexOf('C2'), 1); await members.C2.disconnect() })
    await producing
    ck.ok(!produceError, `producer: ${produceError}`)
    ck.eq(sent.size, COUNT, 'produced messages with offsets')
    await U.until(() => new Set(consumed.map(c => `${c.partition}/${c.offset}`)).size >= COUNT, 30000,
      `all ${COUNT} messages consumed`)
    await sleep(1000) // a duplicate would arrive now
    await members.C1.disconnect()
    await members.C3.disconnect()
    ck.eq(errors, [], 'consumer errors')
  })

  await ck.section('every message exactly once, content exact', async () => {
    const seen = new Map()
    const last = new Map() // member/partition -> last offset
    for (const c of consumed) {
      const k = `${c.partition}/${c.offset}`
      const want = sent.get(k)
      ck.ok(want !== undefined, `${c.member} consumed ${k}, which was never produced`)
      ck.eq([c.key, c.value], [want.key, want.value], `${k}: key/value`)
      ck.ok(!seen.has(k), `${k} consumed twice (${seen.get(k)}, then ${c.member})`)
      seen.set(k, c.member)
      const mp = `${c.member}/${c.partition}`
      ck.ok(!last.has(mp) || last.get(mp) < c.offset, `${mp}: offset ${c.offset} after ${last.get(mp)}`)
      last.set(mp, c.offset)
    }
    ck.eq(seen.size, COUNT, 'distinct messages consumed')
    const per = {}
    for (const c of consumed) per[c.member] = (per[c.member] || 0) + 1
    console.log(`     ${COUNT} messages exactly once; per member ${JSON.stringify(per)}`)
  })

  await ck.section('committed offsets = end offsets', async () => {
    const ends = {}
    for (const k of sent.keys()) {
      const [p, o] = k.split('/').map(Number)
      ends[p] = Math.max(ends[p] || 0, o + 1)
    }
    const res = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    const got = {}
    for (const p of res[0].partitions) got[p.partition] = Number(p.offset)
    ck.eq(got, ends, 'committed offsets')
  })
  await producer.disconnect()
  await admin.disconnect()
  ck.finish()
}

main().catch(e => {
  console.log(`FAIL: ${NAME}: ${e.stack || e}`)
  process.exit(1)
})
