/**
 * The `strata` command. Exit codes: 0 success, 1 failure, 2 usage error. `--json` for machine
 * output; `--help` on every command.
 */
import '../node-version.js'
import { CommanderError } from 'commander'
import { isStrataError } from '../errors.js'
import { EXIT, toJson, UsageError } from './output.js'
import { buildProgram } from './program.js'

async function main(argv: string[]): Promise<number> {
  const program = buildProgram()
  const json = argv.includes('--json')
  try {
    await program.parseAsync(argv)
    return EXIT.ok
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed the message or the help already. Help asked for (`--help`, `help`)
      // is a success; help shown because the command was missing or incomplete (`strata`,
      // `strata groups dead-letters`: 'commander.help' with a non-zero exit code) is a usage
      // error.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') {
        return EXIT.ok
      }
      if (error.code === 'commander.help') return error.exitCode === 0 ? EXIT.ok : EXIT.usage
      return EXIT.usage
    }
    const usage =
      error instanceof UsageError ||
      isStrataError(error, 'INVALID_ARGUMENT') ||
      isStrataError(error, 'CONFIG')
    report(error, json)
    return usage ? EXIT.usage : EXIT.failure
  }
}

function report(error: unknown, json: boolean): void {
  const e = error instanceof Error ? error : new Error(String(error))
  if (json) {
    const code = (e as { code?: unknown }).code
    process.stderr.write(
      `${toJson({ error: { name: e.name, message: e.message, ...(code === undefined ? {} : { code }) } })}\n`,
    )
  } else {
    process.stderr.write(`strata: ${e.message}\n`)
  }
}

// Exit explicitly: a pool or listener left open must not keep the process alive.
main(process.argv).then(
  (code) => process.exit(code),
  (error: unknown) => {
    report(error, process.argv.includes('--json'))
    process.exit(EXIT.failure)
  },
)
