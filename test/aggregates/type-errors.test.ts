import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { beforeAll, describe, expect, it } from 'vitest'

// What TypeScript tells a user who gets a decider wrong (docs/aggregates.md, "Types"): small
// programs compiled with the project's compiler options against src/, in memory, and their
// diagnostics checked for where they point and what they say.

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')

const prelude = `
import { z } from 'zod'
import { defineAggregate, type Decision } from '../../src/index.js'
export const events = {
  OrderPlaced: z.object({ total: z.number(), currency: z.enum(['EUR', 'USD']) }),
  OrderShipped: z.object({ carrier: z.string() }),
}
export const commands = { Place: z.object({ total: z.number() }), Ship: z.object({ carrier: z.string() }) }
export type OrderStatus = 'new' | 'placed' | 'shipped'
export interface OrderState { readonly status: OrderStatus; readonly total: number }
export const initialOrder: OrderState = { status: 'new', total: 0 }
void defineAggregate
export type D = Decision<typeof events>
`

/** A decider with the documented annotations; `decide` and `evolve` bodies are substituted. */
const decider = (parts: { evolve?: string; decide?: string }) => `${prelude}
export const order = defineAggregate({
  category: 'order',
  events,
  commands,
  initialState: initialOrder,
  ${
    parts.evolve ??
    `evolve(state, event): OrderState {
    switch (event.type) {
      case 'OrderPlaced':
        return { ...state, status: 'placed', total: event.data.total }
      case 'OrderShipped':
        return { ...state, status: 'shipped' }
    }
  },`
  }
  ${
    parts.decide ??
    `decide(command, state): Decision<typeof events> {
    if (command.type === 'Place') return { type: 'OrderPlaced', data: { total: command.data.total, currency: 'EUR' } }
    if (state.status !== 'placed') throw new Error('not placed')
    return [{ type: 'OrderShipped', data: { carrier: command.data.carrier } }]
  },`
  }
})
`

const fixtures: Record<string, string> = {
  documented: decider({}),
  misspeltType: decider({
    decide: `decide(command, state): Decision<typeof events> {
    if (command.type === 'Place') return { type: 'OrderPlaced', data: { total: 1, currency: 'EUR' } }
    return [{ type: 'OrderShiped', data: { carrier: command.data.carrier } }] // <- here
  },`,
  }),
  misspeltField: decider({
    decide: `decide(command): Decision<typeof events> {
    if (command.type === 'Place') return { type: 'OrderPlaced', data: { total: 1, currency: 'EUR' } }
    return [{ type: 'OrderShipped', data: { carier: command.data.carrier } }] // <- here
  },`,
  }),
  wrongStatus: decider({
    evolve: `evolve(state, event): OrderState {
    if (event.type === 'OrderPlaced') return { ...state, status: 'placed' }
    return { ...state, status: 'shiped' } // <- here
  },`,
  }),
  unannotatedDecide: decider({
    decide: `decide(command, state) { // <- here
    if (command.type === 'Place') return [{ type: 'OrderPlaced', data: { total: 1, currency: 'USD' as const } }]
    if (state.status !== 'placed') throw new Error('not placed')
    return [{ type: 'OrderShipped', data: { carier: command.data.carrier } }]
  },`,
  }),
  unannotatedEvolve: decider({
    evolve: `evolve(state, event) { // <- here
    return event.type === 'OrderPlaced' ? { ...state, status: 'placed' } : state
  },`,
  }),
  // A state typed inline prints the same on both sides of the comparison, which TypeScript used
  // to report as TS2719 "Two different types with this name exist, but they are unrelated".
  inlineState: `${prelude}
export const order = defineAggregate({
  category: 'order',
  events,
  initialState: { status: 'new' as OrderStatus, total: 0 },
  evolve: (state, event) => { // <- here
    switch (event.type) {
      case 'OrderPlaced':
        return { ...state, status: 'placed', total: event.data.total }
      case 'OrderShipped':
        return { ...state, status: 'shipped' }
    }
  },
  decide: () => [],
})
`,
  projectionSpec: `
import { z } from 'zod'
import { createEventStore, defineProjection } from '../../src/index.js'
import { projectionSpec } from '../../src/testing/index.js'
const events = { Opened: z.object({ owner: z.string() }), Deposited: z.object({ amount: z.number() }) }
const store = createEventStore({ connectionString: 'postgres://unused' }, { events })
const owners = defineProjection({ name: 'owners', version: 1, events, handlers: { Opened: () => undefined } })
export const spec = projectionSpec(store, owners).given([
  { streamId: 'account-1', type: 'Opened', data: { owner: 'ada' } },
  { streamId: 'account-1', type: 'Deposted', data: { amount: 1 } }, // <- here
  { streamId: 'account-1', type: 'Deposited', data: { amount: '1' } }, // <- here
])
`,
}

interface Finding {
  readonly code: number
  readonly line: number
  readonly lines: string[]
}

const findings = new Map<string, Finding[]>()
const marked = (name: string) =>
  fixtures[name]!.split('\n').flatMap((text, i) => (text.includes('// <- here') ? [i + 1] : []))

beforeAll(() => {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), (path) => ts.sys.readFile(path))
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
  const paths = new Map(
    Object.entries(fixtures).map(([name, text]) => [
      join(root, 'test/aggregates', `type-fixture-${name}.ts`),
      text,
    ]),
  )
  const disk = ts.createCompilerHost({ ...options, noEmit: true })
  const host: ts.CompilerHost = {
    ...disk,
    fileExists: (path) => paths.has(path) || disk.fileExists(path),
    readFile: (path) => paths.get(path) ?? disk.readFile(path),
    getSourceFile: (path, language, ...rest) => {
      const text = paths.get(path)
      return text === undefined
        ? disk.getSourceFile(path, language, ...rest)
        : ts.createSourceFile(path, text, language)
    },
  }
  const program = ts.createProgram({ rootNames: [...paths.keys()], options, host })
  for (const [path] of paths) {
    const name = path.slice(path.lastIndexOf('type-fixture-') + 13, -3)
    const file = program.getSourceFile(path)!
    findings.set(
      name,
      [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map(
        (d) => ({
          code: d.code,
          line: file.getLineAndCharacterOfPosition(d.start!).line + 1,
          lines: ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n'),
        }),
      ),
    )
  }
}, 120_000)

describe('type errors of a decider', () => {
  it('the documented annotations compile', () => {
    expect(findings.get('documented')).toEqual([])
  })

  it('with decide annotated, a misspelt event type is one line at the event, with a suggestion', () => {
    const [error, ...others] = findings.get('misspeltType')!
    expect(others).toEqual([])
    expect(error).toMatchObject({ code: 2820, line: marked('misspeltType')[0] })
    expect(error!.lines).toEqual([
      `Type '"OrderShiped"' is not assignable to type '"OrderPlaced" | "OrderShipped"'. Did you mean '"OrderShipped"'?`,
    ])
  })

  it('with decide annotated, a misspelt field is one line at the field', () => {
    const [error, ...others] = findings.get('misspeltField')!
    expect(others).toEqual([])
    expect(error).toMatchObject({ code: 2353, line: marked('misspeltField')[0] })
    expect(error!.lines).toHaveLength(1)
    expect(error!.lines[0]).toMatch(/'carier' does not exist/)
  })

  it('with evolve annotated, a wrong status is one line at the return', () => {
    const [error, ...others] = findings.get('wrongStatus')!
    expect(others).toEqual([])
    expect(error).toMatchObject({ code: 2820, line: marked('wrongStatus')[0] })
    expect(error!.lines[0]).toMatch(/'"shiped"' is not assignable to type 'OrderStatus'/)
  })

  it('without the annotation, decide is reported at its key, the wrong event at the end', () => {
    const [error, ...others] = findings.get('unannotatedDecide')!
    expect(others).toEqual([])
    expect(error).toMatchObject({ code: 2322, line: marked('unannotatedDecide')[0] })
    expect(error!.lines.length).toBeLessThanOrEqual(9)
    expect(error!.lines.at(-1)).toMatch(/'carrier' is missing in type '\{ carier: string; \}'/)
    expect(error!.lines.join('\n')).not.toMatch(/Two different types with this name exist/)
  })

  it('without the annotation, evolve returning a status literal is a few lines naming the field, not TS2719', () => {
    const [error, ...others] = findings.get('unannotatedEvolve')!
    expect(others).toEqual([])
    expect(error).toMatchObject({ code: 2322, line: marked('unannotatedEvolve')[0] })
    expect(error!.lines.length).toBeLessThanOrEqual(5)
    expect(error!.lines.join('\n')).not.toMatch(/Two different types with this name exist/)
    expect(error!.lines.at(-1)).toMatch(/Type 'string' is not assignable to type 'OrderStatus'/)
  })
})

describe('type errors of an inline state', () => {
  it('name the field and are never TS2719', () => {
    const [error, ...others] = findings.get('inlineState')!
    expect(others).toEqual([])
    expect(error).toMatchObject({ code: 2322, line: marked('inlineState')[0] })
    expect(error!.lines.length).toBeLessThanOrEqual(5)
    expect(error!.lines.at(-1)).toMatch(/Type 'string' is not assignable to type 'OrderStatus'/)
  })
})

describe('type errors of a projection spec', () => {
  it('given events are typed from the registry: a misspelt type or a wrong field fails to compile there', () => {
    const errors = findings.get('projectionSpec')!
    expect(errors.map((e) => e.line)).toEqual(marked('projectionSpec'))
    expect(errors[0]!.lines.join('\n')).toMatch(/"Deposted"/)
    expect(errors[1]!.lines.join('\n')).toMatch(/'string' is not assignable to type 'number'/)
  })
})
