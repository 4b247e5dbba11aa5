/** Projections: every version's mode, position, lag, status and failures; pause, resume, rebuild. */
import { get } from '../api.js'
import { badge, h, jsonBlock, num, numCell, perSecond, replace, table, time } from '../dom.js'
import { on, state } from '../state.js'

export function mount(root, _params, ctx) {
  const list = h('section', { class: 'panel', id: 'projections' })
  const failures = h('section', { class: 'panel', id: 'projection-failures', hidden: true })
  root.append(h('h1', null, 'Projections'), list, failures)

  const draw = () => {
    const projections = state.sample?.projections ?? []
    replace(
      list,
      table(
        [
          'projection',
          'mode',
          'status',
          'position',
          'behind',
          'seconds behind',
          'rate',
          'progress',
          'runner',
          'failure',
          '',
        ],
        projections.map((p) => [
          h('td', { class: 'mono' }, `${p.name} v${p.version}`),
          p.mode,
          h('td', null, statusBadge(p)),
          numCell(p.position),
          numCell(p.behind, p.behind !== '0' ? 'warn' : ''),
          numCell(Math.round(p.secondsBehind * 10) / 10),
          perSecond(p.positionsPerSecond),
          h('td', null, progress(p)),
          h('td', { class: 'small' }, p.leaseOwner ?? '–'),
          h(
            'td',
            { class: 'small' },
            p.failure ? `at ${num(p.failure.position)}: ${p.failure.error}` : '–',
          ),
          h('td', { class: 'buttons' }, ...buttons(p, ctx, () => showFailures(failures, p))),
        ]),
        {
          empty: 'no projections: they appear once a runner or addInlineProjection has set one up',
        },
      ),
    )
  }
  draw()
  return { unmount: on('sample', draw) }
}

function statusBadge(p) {
  if (p.failure) return badge('failed', 'bad')
  if (p.paused) return badge('paused', 'warn')
  return badge(p.status, p.status === 'active' ? 'ok' : p.status === 'building' ? 'info' : 'muted')
}

/** How far a version has come from where it started to the head. */
function progress(p) {
  const head = BigInt(state.sample?.headPosition ?? '0')
  const from = BigInt(p.startedFrom)
  const total = head - from
  const done = BigInt(p.position) - from
  const fraction = total <= 0n ? 1 : Math.min(1, Number(done) / Number(total))
  const percent = Math.floor(fraction * 1000) / 10
  const bar = h('div', { class: 'bar' })
  bar.style.width = `${percent}%` // through the CSSOM: the CSP allows no inline style attributes
  return h('div', { class: 'progress', title: `${percent}%` }, bar, h('span', null, `${percent}%`))
}

function buttons(p, ctx, onFailures) {
  if (p.status === 'retired') return []
  const body = { name: p.name, version: p.version }
  const label = `${p.name} v${p.version}`
  return [
    p.paused
      ? h(
          'button',
          {
            type: 'button',
            onclick: () =>
              void ctx.act('projections.resume', body, { done: () => `resumed ${label}` }),
          },
          'Resume',
        )
      : h(
          'button',
          {
            type: 'button',
            onclick: () =>
              void ctx.act('projections.pause', body, { done: () => `paused ${label}` }),
          },
          'Pause',
        ),
    p.mode === 'async'
      ? h(
          'button',
          {
            type: 'button',
            class: 'danger',
            onclick: () =>
              void ctx.act('projections.rebuild', body, {
                confirmText: `Rebuild ${label} from the start? Its tables are dropped and its runner replays the log.`,
                done: () => `rebuilding ${label}: watch its progress here`,
              }),
          },
          'Rebuild',
        )
      : null,
    h('button', { type: 'button', class: 'ghost', onclick: onFailures }, 'Failures'),
  ]
}

async function showFailures(el, p) {
  el.hidden = false
  replace(
    el,
    h('h2', null, `Failures of ${p.name} v${p.version}`),
    h('p', { class: 'muted' }, 'loading…'),
  )
  try {
    const { failures } = await get('projections/failures', { name: p.name, version: p.version })
    replace(
      el,
      h('h2', null, `Failures of ${p.name} v${p.version}`),
      table(
        ['position', 'event', 'type', 'attempts', 'skipped', 'recorded', 'error'],
        failures.map((f) => [
          numCell(f.position),
          h('td', { class: 'mono small' }, f.eventId),
          f.eventType,
          numCell(f.attempts),
          f.skipped ? 'yes' : 'no',
          time(f.recordedAt),
          h('td', null, jsonBlock(f.error, 'json small')),
        ]),
        { empty: 'no failures recorded' },
      ),
    )
  } catch (error) {
    replace(el, h('p', { class: 'error-line' }, error.message))
  }
}
