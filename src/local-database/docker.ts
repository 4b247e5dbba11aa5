import { existsSync } from 'node:fs'
import { request } from 'node:http'

/**
 * Whether a Docker engine answers, checked without loading testcontainers (which costs ~300 ms
 * to import and fails on machines without an engine): DOCKER_HOST, or a ping on the socket.
 */
export async function dockerEngineAnswers(timeoutMs = 500): Promise<boolean> {
  const host = process.env.DOCKER_HOST
  if (host !== undefined && host !== '') {
    if (host.startsWith('unix://'))
      return ping({ socketPath: host.slice('unix://'.length) }, timeoutMs)
    if (host.startsWith('tcp://')) {
      const url = new URL(host.replace('tcp://', 'http://'))
      return ping({ host: url.hostname, port: Number(url.port || 2375) }, timeoutMs)
    }
    return false
  }
  const socketPath = '/var/run/docker.sock'
  return existsSync(socketPath) && ping({ socketPath }, timeoutMs)
}

function ping(target: { socketPath: string } | { host: string; port: number }, timeoutMs: number) {
  return new Promise<boolean>((resolve) => {
    const req = request({ ...target, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => {
      req.destroy()
      resolve(false)
    })
    req.on('error', () => resolve(false))
    req.end()
  })
}
