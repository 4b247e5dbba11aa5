/** Overview: the store at a glance, with throughput and lag over the last minutes. */
import { lineChart } from '../chart.js'
import { badge, card, h, link, num, numCell, perSecond, replace, table } from '../dom.js'
import { groupRoute, on, state } from '../state.js'

export function mount(root) {
  const cards = h('section', { class: 'cards', id: 'overview-cards' })
  const charts = h('section', { class: 'charts' })
  const attention = h('section', { class: 'panel' })
  const connections = h('section', { class: 'panel' })
  root.append(
    h('h1', null, 'Overview'),
    cards,
    charts,
    h('div', { class: 'two' }, attention, connections),
  )

  const draw = () => {
    const s = state.sample
    if (!s) return replace(cards, h('p', { class: 'empty' }, 'waiting for the first sample…'))
    const exact = s.events.exact ? '' : 'about '
    const parked = s.groups.reduce((n, g) => n + g.parked, 0)
    const failing = s.projections.filter((p) => p.failure !== null).length
    replace(
      cards,
      card(
        'Events',
        `${exact}${num(s.events.count)}`,
        s.events.exact ? 'stored' : 'approximate, recounted every 30 s',
      ),
      card('Append rate', perSecond(s.eventsPerSecond), 'events per second, live'),
      card('Head position', num(s.headPosition), 'last position handed out'),
      card(
        'Connections',
        `${num(s.connections.total)} / ${num(s.connections.max)}`,
        `${s.connections.active} active, ${s.connections.idle} idle, ${s.connections.idleInTransaction} idle in transaction`,
      ),
      card('Consumer groups', num(s.groups.length), `${num(parked)} parked`, {
        tone: parked ? 'bad' : '',
      }),
      card('Projections', num(s.projections.length), `${failing} failing`, {
        tone: failing ? 'bad' : '',
      }),
    )
    if (s.error) cards.prepend(h('p', { class: 'error-line' }, `last sample failed: ${s.error}`))
    const points = state.history
    replace(
      charts,
      lineChart(points, [{ key: 'eventsPerSecond', label: 'events/s', color: '#2f6feb' }], {
        title: 'Throughput',
        unit: 'events/s',
      }),
      lineChart(
        points,
        [
          { key: 'groupLag', label: 'groups', color: '#d29922' },
          { key: 'projectionLag', label: 'projections', color: '#8957e5' },
        ],
        { title: 'Lag (largest, positions behind)', unit: 'positions' },
      ),
    )
    const behind = [...s.groups]
      .sort((a, b) => b.parked - a.parked || Number(BigInt(b.behind) - BigInt(a.behind)))
      .slice(0, 6)
    replace(
      attention,
      h('h2', null, 'Groups and queues: parked first, then most behind'),
      table(
        ['name', 'kind', 'behind', 'parked', 'consumers'],
        behind.map((g) => [
          link(groupRoute(g.kind, g.name), g.name),
          g.kind,
          numCell(g.behind),
          numCell(g.parked, g.parked ? 'bad' : ''),
          numCell(g.consumers),
        ]),
        { empty: 'no consumer groups or queues' },
      ),
    )
    replace(
      connections,
      h('h2', null, 'Connections by application'),
      table(
        ['application', 'connections'],
        s.connections.byApplication.map((a) => [a.name, numCell(a.count)]),
        { empty: 'none' },
      ),
      s.connections.total > s.connections.max * 0.8
        ? badge('close to max_connections', 'bad')
        : null,
    )
  }
  draw()
  return { unmount: on('sample', draw) }
}
