import type { Machine } from './machine.js'
import type { Row, Scenario } from './types.js'

const fmt = (n: number) =>
  n >= 100 ? Math.round(n).toLocaleString('en-US') : n >= 10 ? n.toFixed(1) : n.toFixed(2)

/** strata's median divided by the other's, oriented so > 1 means strata is better. */
export function ratio(strata: Row, other: Row): number {
  return strata.higherIsBetter
    ? strata.summary.median / other.summary.median
    : other.summary.median / strata.summary.median
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const k = key(item)
    const list = groups.get(k) ?? []
    list.push(item)
    groups.set(k, list)
  }
  return groups
}

/** A console table: one line per measured row. */
export function consoleTable(rows: readonly Row[]): string {
  const lines = [['scenario', 'case', 'system', 'median', 'min–max', 'unit', 'vs strata']]
  for (const [, caseRows] of groupBy(rows, (r) => `${r.scenario}|${r.case}`)) {
    const strata = caseRows.find((r) => r.system === 'strata')
    for (const row of caseRows) {
      lines.push([
        row.scenario,
        row.case,
        row.system,
        fmt(row.summary.median),
        `${fmt(row.summary.min)}–${fmt(row.summary.max)}`,
        row.unit,
        strata === undefined || row === strata ? '' : `strata ×${ratio(strata, row).toFixed(2)}`,
      ])
    }
  }
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)))
  return lines.map((l) => l.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n')
}

const PEER_COLOURS = ['#e0923a', '#3a9e6e', '#9b59b6', '#c0504d', '#2aa3b8', '#b8a22a']

/** Bar colours: strata blue (its variants lighter), raw SQL grey, each peer its own colour. */
function paletteFor(rows: readonly Row[]): (system: string) => string {
  const peers = [...new Set(rows.map((r) => r.system))].filter(
    (s) => !s.startsWith('strata') && !s.startsWith('raw'),
  )
  return (system) => {
    if (system === 'strata') return '#2f6fdb'
    if (system.startsWith('strata')) return '#7fa7ea'
    if (system.startsWith('raw')) return '#8a8f98'
    return PEER_COLOURS[peers.indexOf(system) % PEER_COLOURS.length]!
  }
}

/**
 * A horizontal bar chart (SVG) of one scenario's medians, with min–max whiskers. Each case has
 * its own scale (its figures are compared with each other, not with other cases, whose units
 * and magnitudes differ) unless rows share a `scale` key, and says its unit and which way is
 * better.
 */
export function barChart(title: string, rows: readonly Row[]): string {
  const barHeight = 18
  const gap = 6
  const labelWidth = 330
  const chartWidth = 420
  let y = 40
  const parts: string[] = []
  const palette = paletteFor(rows)
  const scaleOf = (row: Row) => row.scale ?? `case:${row.case}`
  const maxima = new Map<string, number>()
  for (const row of rows) {
    maxima.set(
      scaleOf(row),
      Math.max(maxima.get(scaleOf(row)) ?? Number.MIN_VALUE, row.summary.max),
    )
  }
  for (const [kase, caseRows] of groupBy(rows, (r) => r.case)) {
    const first = caseRows[0]!
    const max = maxima.get(scaleOf(first))!
    const direction = first.higherIsBetter ? 'higher is better' : 'lower is better'
    parts.push(
      `<text x="8" y="${y + 12}" font-weight="600">${escape(kase)} <tspan font-weight="400" fill="#555">(${escape(first.unit)}, ${direction})</tspan></text>`,
    )
    y += barHeight + 4
    for (const row of caseRows) {
      const w = (row.summary.median / max) * chartWidth
      const x0 = labelWidth + (row.summary.min / max) * chartWidth
      const x1 = labelWidth + (row.summary.max / max) * chartWidth
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 13}" text-anchor="end">${escape(row.system)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${palette(row.system)}"/>`,
        `<line x1="${x0.toFixed(1)}" x2="${x1.toFixed(1)}" y1="${y + barHeight / 2}" y2="${y + barHeight / 2}" stroke="#222" stroke-width="1.5"/>`,
        `<text x="${(labelWidth + Math.max(w, x1 - labelWidth) + 6).toFixed(1)}" y="${y + 13}">${fmt(row.summary.median)} ${escape(row.unit)}</text>`,
      )
      y += barHeight + gap
    }
    y += 8
  }
  const width = labelWidth + chartWidth + 170
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="8" y="22" font-size="15" font-weight="700">${escape(title)}</text>
${parts.join('\n')}
</svg>
`
}

function escape(text: string): string {
  return text.replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!,
  )
}

export interface ReportInput {
  readonly startedAt: Date
  readonly machine: Machine
  readonly scenarios: readonly Scenario[]
  readonly rows: readonly Row[]
  readonly smoke: boolean
  readonly reps: number
  readonly skipped: readonly string[]
  /** Path prefix of the chart files, relative to the markdown file. */
  readonly chartPath: (scenario: string) => string
}

/** The markdown report: machine, then per scenario a chart, a table and what limits it. */
export function markdownReport(input: ReportInput): string {
  const { machine } = input
  const out: string[] = [
    `Run of ${input.startedAt.toISOString()}${input.smoke ? ' (smoke mode: tiny sizes, figures not meaningful)' : ''}, ${input.reps} interleaved repetitions per figure; medians with min–max.`,
    '',
    `Machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, PostgreSQL ${machine.postgres}; ` +
      Object.entries(machine.durability)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') +
      '.',
    '',
  ]
  for (const note of input.skipped) out.push(`> Skipped: ${note}`, '')
  for (const scenario of input.scenarios) {
    const rows = input.rows.filter((r) => r.scenario === scenario.name)
    if (rows.length === 0) continue
    out.push(
      `### ${scenario.title}`,
      '',
      `![${scenario.title}](${input.chartPath(scenario.name)})`,
      '',
    )
    out.push(
      '| case | system | median | min–max | unit | strata vs this |',
      '| --- | --- | ---: | ---: | --- | ---: |',
    )
    for (const [, caseRows] of groupBy(rows, (r) => r.case)) {
      const strata = caseRows.find((r) => r.system === 'strata')
      for (const row of caseRows) {
        const vs = strata === undefined || row === strata ? '' : `×${ratio(strata, row).toFixed(2)}`
        out.push(
          `| ${row.case} | ${row.system}${row.note === undefined ? '' : ` · _${row.note}_`} | ${fmt(row.summary.median)} | ${fmt(row.summary.min)}–${fmt(row.summary.max)} | ${row.unit} | ${vs} |`,
        )
      }
    }
    out.push('', `What limits it: ${scenario.limits}`, '')
  }
  return out.join('\n')
}
