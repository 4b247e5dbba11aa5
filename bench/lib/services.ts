import net from 'node:net'

/** A peer service the benchmarks talk to, by address. */
export interface ServiceAddress {
  readonly name: string
  readonly host: string
  readonly port: number
}

/** An address from `host:port` in the environment variable, else the default. */
function address(name: string, variable: string, host: string, port: number): ServiceAddress {
  const value = process.env[variable]
  const match = value === undefined ? null : /^(.+):(\d+)$/.exec(value)
  return match === null ? { name, host, port } : { name, host: match[1]!, port: Number(match[2]) }
}

/** RabbitMQ (guest/guest): 127.0.0.1:5672, or BENCH_RABBITMQ=host:port. */
export const rabbitmq = address('RabbitMQ', 'BENCH_RABBITMQ', '127.0.0.1', 5672)
/** NATS with JetStream: 127.0.0.1:4222, or BENCH_NATS=host:port. */
export const nats = address('NATS JetStream', 'BENCH_NATS', '127.0.0.1', 4222)

/**
 * Whether something accepts TCP connections at the address within `timeoutMs`: a cheap check
 * before a peer runs, so an absent service is skipped with a notice instead of failing.
 */
export function reachable(address: ServiceAddress, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address.host, port: address.port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** The notice for a peer that is skipped because its service is absent. */
export function absent(address: ServiceAddress): string {
  return `${address.name} is not reachable on ${address.host}:${address.port}; its rows are skipped (start it to include them)`
}
