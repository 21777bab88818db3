// kjs_util.js: shared by the kafkajs tests. Starting the broker is harness.py's job: a test run
// without SLUICE_KAFKA_BOOTSTRAP runs itself again under `python3 harness.py run`.
'use strict'
const path = require('path')
const fs = require('fs')
const { spawnSync } = require('child_process')

const HERE = __dirname
const PYTHON = '/usr/bin/python3' // Debian's: it has confluent_kafka (python3-confluent-kafka)
const SKIP = 77

function bootstrapOrReexec(script) {
  if (process.env.SLUICE_KAFKA_BOOTSTRAP) return process.env.SLUICE_KAFKA_BOOTSTRAP
  const r = spawnSync(PYTHON, [path.join(HERE, 'harness.py'), 'run', '--', process.execPath, script],
    { stdio: 'inherit', timeout: 290000 })
  process.exit(r.status === null ? 1 : r.status)
}

function loadKafkajs(name) {
  const dir = path.join(HERE, 'node_modules', 'kafkajs')
  if (!fs.existsSync(dir)) {
    console.log(`SKIP: ${name}: ${dir} missing (run scripts/setup.sh)`)
    process.exit(SKIP)
  }
  return require(dir)
}

class CheckFailed extends Error {}

class Checker {
  constructor(name) {
    this.name = name
    this.checks = 0
    this.failed = []
  }

  ok(cond, what) {
    this.checks++
    if (!cond) throw new CheckFailed(what)
  }

  eq(actual, expected, what) {
    this.checks++
    const a = JSON.stringify(actual)
    const e = JSON.stringify(expected)
    if (a !== e) {
      const cut = s => (s && s.length > 200 ? s.slice(0, 200) + `...(${s.length} chars)` : s)
      throw new CheckFailed(`${what}: got ${cut(a)}, want ${cut(e)}`)
    }
  }

  async section(title, fn) {
    console.log(`---- ${title}`)
    const t0 = Date.now()
    try {
      await fn()
      console.log(`     ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
    } catch (e) {
      this.failed.push(title)
      console.log(`FAIL [${title}]: ${e instanceof CheckFailed ? e.message : e.stack}`)
    }
  }

  finish() {
    if (this.failed.length) {
      console.log(`FAIL: ${this.name}: failed sections (${this.checks} checks passed): ${this.failed.join(", ")}`)
      process.exit(1)
    }
    console.log(`PASS: ${this.name} (${this.checks} checks)`)
    process.exit(0)
  }
}

// Reads the whole topic back with confluent-kafka (ckutil.py dump): {partition: [messages]} with
// keys, values and header values as Buffers (null kept).
function dumpTopic(bootstrap, topic) {
  const r = spawnSync(PYTHON, [path.join(HERE, 'ckutil.py'), 'dump', bootstrap, topic],
    { timeout: 90000, maxBuffer: 256 * 1024 * 1024 })
  if (r.status !== 0) {
    throw new CheckFailed(`ckutil.py dump ${topic} exited ${r.status}: ${String(r.stderr).slice(-2000)}`)
  }
  const b = v => (v === null ? null : Buffer.from(v, 'base64'))
  const out = {}
  for (const line of String(r.stdout).split('\n').filter(Boolean)) {
    const p = JSON.parse(line)
    out[p.partition] = p.messages.map(m => ({
      offset: m.offset, key: b(m.key), value: b(m.value), ts: m.ts, tsType: m.ts_type,
      headers: m.headers.map(([k, v]) => [k, b(v)]),
    }))
  }
  return out
}

// Buffers as hex with a marker, so eq() tells null from empty and shows differing bytes.
function hex(v) {
  if (v === null || v === undefined) return null
  return 'hex:' + Buffer.from(v).toString('hex')
}

function unique(prefix) {
  return `${prefix}-${process.pid}-${Math.floor(Math.random() * 0xffffff).toString(16)}`
}

// Bounded polling: calls fn until it returns true, at most timeoutMs.
async function until(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await fn()) return
    if (Date.now() > deadline) throw new CheckFailed(`${what}: not within ${timeoutMs} ms`)
    await new Promise(r => setTimeout(r, 200))
  }
}

// The API keys a broker advertises: one ApiVersions v0 request on a socket of its own (kafkajs
// keeps its own answer private). Resolves to a Set of keys; rejects after timeoutMs.
function apiVersions(host, port, timeoutMs = 5000) {
  const net = require('net')
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host)
    const client = Buffer.from('sluice-it')
    const req = Buffer.alloc(4 + 10 + client.length)
    req.writeInt32BE(req.length - 4, 0)
    req.writeInt16BE(18, 4) // ApiVersions
    req.writeInt16BE(0, 6) // v0
    req.writeInt32BE(1, 8) // correlation id
    req.writeInt16BE(client.length, 12)
    client.copy(req, 14)
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => { sock.destroy(); reject(new CheckFailed('ApiVersions: no answer')) }, timeoutMs)
    sock.on('error', e => { clearTimeout(timer); reject(e) })
    sock.on('connect', () => sock.write(req))
    sock.on('data', d => {
      buf = Buffer.concat([buf, d])
      if (buf.length < 4 || buf.length < 4 + buf.readInt32BE(0)) return
      clearTimeout(timer)
      sock.destroy()
      // size, correlation id, error code, [api key, min, max]
      const keys = new Set()
      const n = buf.readInt32BE(10)
      for (let i = 0; i < n; i++) keys.add(buf.readInt16BE(14 + i * 6))
      resolve(keys)
    })
  })
}

module.exports = {
  SKIP, Checker, CheckFailed, bootstrapOrReexec, loadKafkajs, dumpTopic, hex, unique, until, apiVersions,
}
