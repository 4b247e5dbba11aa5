import net from 'node:net'

/**
 * A TCP proxy in front of a Postgres server, for faults the server itself cannot be made to
 * produce on demand: a reply lost after the commit, a server refusing connections.
 */
export interface TcpProxy {
  /** `targetUrl` with the proxy's host and port. */
  readonly url: string
  /**
   * The next statement whose text contains `marker` runs on the server, but its reply is thrown
   * away and the connection is cut (the server has committed by then: it replies after the
   * commit of an autocommit statement). Resolves once that happened. A named prepared
   * statement matches by its text, also when only its name is sent (a Bind on a connection that
   * parsed it before).
   */
  loseReplyTo(marker: string, then?: () => Promise<void> | void): Promise<void>
  /** Cuts every connection and refuses new ones (ECONNREFUSED) until accept(). */
  refuse(): Promise<void>
  accept(): Promise<void>
  close(): Promise<void>
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl)
  const targetPort = Number(target.port || 5432)
  const sockets = new Set<net.Socket>()
  let armed: { marker: Buffer; lost: () => void } | undefined
  // The texts of the named statements seen (strata names them by a hash of the text).
  const statements = new Map<string, string>()
  const remember = (chunk: Buffer) => {
    for (const match of chunk.toString('latin1').matchAll(/(strata_[\w-]{32})\0([^\0]+)\0/g))
      statements.set(match[1]!, match[2]!)
  }
  const matches = (chunk: Buffer, marker: Buffer) => {
    if (chunk.includes(marker)) return true
    const text = chunk.toString('latin1')
    for (const [name, sql] of statements)
      if (sql.includes(marker.toString('latin1')) && text.includes(name)) return true
    return false
  }

  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, target.hostname)
    sockets.add(client).add(upstream)
    let dropReply: (() => void) | undefined
    const cut = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('data', (chunk: Buffer) => {
      remember(chunk)
      if (armed !== undefined && matches(chunk, armed.marker)) {
        dropReply = armed.lost
        armed = undefined
      }
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      if (dropReply !== undefined) {
        cut()
        dropReply()
        return
      }
      client.write(chunk)
    })
    for (const socket of [client, upstream]) {
      socket.on('error', cut)
      socket.on('close', () => {
        sockets.delete(socket)
        cut()
      })
    }
  })
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  await listen(0)
  const port = (server.address() as net.AddressInfo).port
  const url = new URL(targetUrl)
  url.hostname = '127.0.0.1'
  url.port = String(port)

  const stopListening = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      if (!server.listening) resolve()
      else server.close(() => resolve())
    })

  return {
    url: url.toString(),
    loseReplyTo(marker, then) {
      return new Promise<void>((resolve, reject) => {
        armed = {
          marker: Buffer.from(marker),
          lost: () => {
            void Promise.resolve()
              .then(then)
              .then(() => resolve(), reject)
          },
        }
      })
    },
    refuse: stopListening,
    accept: () => (server.listening ? Promise.resolve() : listen(port)),
    close: stopListening,
  }
}
