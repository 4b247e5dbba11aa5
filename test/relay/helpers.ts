import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll } from 'vitest'
import { waitFor } from '../support/wait-for.js'

/** The machine's shared NATS (never stopped by tests): NATS_URL, else 127.0.0.1:4222. */
export const sharedNats = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'

/** A JetStream stream name no other test uses. */
export function aStreamName(prefix = 'T'): string {
  return `STRATA_${prefix}_${randomBytes(5).toString('hex').toUpperCase()}`
}

/** A message of the stream, as read back. */
export interface StoredMessage {
  readonly sequence: number
  readonly subject: string
  readonly position: bigint
  readonly id: string
  readonly headers: Record<string, string>
  readonly body: string
}

/** Connections of a test file, closed after it; streams it names are deleted after it. */
export function useNats(servers = sharedNats) {
  const connections: NatsConnection[] = []
  const streams = new Set<string>()
  afterAll(async () => {
    const nc = await connect({ servers }).catch(() => undefined)
    if (nc !== undefined) {
      const jsm = await jetstreamManager(nc)
      for (const name of streams) await jsm.streams.delete(name).catch(() => undefined)
      await nc.close()
    }
    for (const c of connections.splice(0)) await c.close().catch(() => undefined)
  })
  const connection = async (url = servers) => {
    const nc = await connect({ servers: url })
    connections.push(nc)
    return nc
  }
  return {
    servers,
    connection,
    /** A fresh stream name, deleted after the file. */
    stream(prefix?: string): string {
      const name = aStreamName(prefix)
      streams.add(name)
      return name
    },
    /** Every message of the stream in sequence order (an ordered consumer from the start). */
    async readBack(stream: string, url = servers): Promise<StoredMessage[]> {
      const nc = await connection(url)
      const jsm = await jetstreamManager(nc)
      const { state } = await jsm.streams.info(stream)
      const out: StoredMessage[] = []
      if (state.messages === 0) return out
      const consumer = await jetstream(nc).consumers.get(stream, {
        deliver_policy: DeliverPolicy.All,
      })
      const messages = await consumer.consume({ max_messages: 1000 })
      for await (const m of messages) {
        const headers: Record<string, string> = {}
        for (const key of m.headers?.keys() ?? []) headers[key] = m.headers!.get(key)
        out.push({
          sequence: m.seq,
          subject: m.subject,
          position: BigInt(headers['Strata-Position'] ?? '-1'),
          id: headers['Nats-Msg-Id'] ?? '',
          headers,
          body: m.string(),
        })
        if (m.seq >= state.last_seq) break
      }
      await messages.close()
      return out
    },
  }
}

/** A TCP port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/**
 * A nats-server of the test's own, with JetStream in a temp folder, on a free port: tests may
 * kill, pause and restart it (never the machine's shared server).
 */
export async function startOwnNats() {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'strata-nats-'))
  const url = `nats://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const start = async () => {
    const started = spawn(
      process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server',
      ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)],
      { stdio: 'ignore' },
    )
    child = started
    await waitFor(() => accepts(port), { timeoutMs: 15_000, message: 'nats-server listening' })
    // JetStream answers once it has recovered its streams.
    await waitFor(
      async () => {
        const nc = await connect({ servers: url, reconnect: false })
        try {
          await (await jetstreamManager(nc)).getAccountInfo()
          return true
        } finally {
          await nc.close()
        }
      },
      { timeoutMs: 15_000, message: 'JetStream ready' },
    )
  }
  const stop = async (signal: NodeJS.Signals) => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill(signal)
    await exited
  }
  await start()
  return {
    url,
    start,
    /** SIGKILL (or SIGTERM) and wait for the exit. */
    stop,
    /** SIGSTOP: the server holds every connection open and answers nothing. */
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async remove() {
      child?.kill('SIGCONT')
      await stop('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
