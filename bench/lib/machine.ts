import os from 'node:os'
import pg from 'pg'

export interface Machine {
  readonly cpus: number
  readonly cpuModel: string
  readonly memoryGiB: number
  readonly node: string
  readonly postgres: string
  readonly durability: Record<string, string>
}

/** What the figures depend on: cores, memory, Postgres version and durability settings. */
export async function describeMachine(url: string): Promise<Machine> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!
      .server_version
    const durability: Record<string, string> = {}
    for (const setting of [
      'fsync',
      'synchronous_commit',
      'wal_sync_method',
      'full_page_writes',
      'shared_buffers',
      'max_wal_size',
    ]) {
      durability[setting] = (
        await client.query<Record<string, string>>(`SHOW ${setting}`)
      ).rows[0]![setting]!
    }
    return {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
      node: process.version,
      postgres: version,
      durability,
    }
  } finally {
    await client.end()
  }
}
