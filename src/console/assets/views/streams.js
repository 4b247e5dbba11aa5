/** Streams: find streams by prefix, category or id; a stream's info and events. */
import { get } from '../api.js'
import { badge, h, jsonBlock, link, num, numCell, replace, table, time } from '../dom.js'
import { streamRoute } from '../state.js'

const PAGE = 50

export function mount(root, params, ctx) {
  if (params[0] !== undefined) return mountStream(root, params[0], ctx)
  const input = h('input', {
    id: 'stream-search',
    type: 'search',
    placeholder: 'account-  (a prefix), account (a category) or an exact stream id',
    'aria-label': 'stream search',
    autocomplete: 'off',
  })
  const mode = h(
    'select',
    { id: 'stream-mode', 'aria-label': 'search by' },
    h('option', { value: 'prefix' }, 'prefix'),
    h('option', { value: 'category' }, 'category'),
    h('option', { value: 'id' }, 'exact id'),
  )
  const results = h('section', { class: 'panel', id: 'stream-results' })
  const form = h(
    'form',
    { class: 'search' },
    mode,
    input,
    h('button', { type: 'submit' }, 'Search'),
  )
  root.append(h('h1', null, 'Streams'), form, results)

  let next = null
  let prefix = ''
  const rows = []
  const load = async (more) => {
    try {
      const page = await get('streams', { prefix, after: more ? next : undefined, limit: PAGE })
      if (!more) rows.length = 0
      rows.push(...page.streams)
      next = page.next
      replace(
        results,
        table(
          ['stream', 'version', 'events'],
          rows.map((s) => [
            link(streamRoute(s.streamId), s.streamId),
            numCell(s.version),
            numCell(s.events),
          ]),
          { empty: prefix ? `no stream id starts with ${prefix}` : 'no streams yet' },
        ),
        page.complete
          ? null
          : h(
              'p',
              { class: 'muted' },
              'the scan stopped early (linguistic collation): refine the prefix',
            ),
        next
          ? h('button', { type: 'button', class: 'ghost', onclick: () => void load(true) }, 'More')
          : null,
      )
    } catch (error) {
      replace(results, h('p', { class: 'error-line' }, error.message))
    }
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const value = input.value.trim()
    if (mode.value === 'id' && value) return ctx.navigate(streamRoute(value))
    prefix = mode.value === 'category' && value ? `${value.replace(/-$/, '')}-` : value
    void load(false)
  })
  void load(false)
  input.focus()
  return {}
}

function mountStream(root, streamId, ctx) {
  const info = h('section', { class: 'panel', id: 'stream-info' })
  const events = h('section', { id: 'stream-events' })
  const controls = h('div', { class: 'controls' })
  root.append(
    h('p', { class: 'crumbs' }, link('/streams', 'Streams'), ' / '),
    h('h1', { class: 'mono' }, streamId),
    info,
    controls,
    events,
  )
  let direction = 'forward'
  let shown = []
  const load = async (from) => {
    try {
      const page = await get('stream', { id: streamId, direction, from, limit: PAGE })
      renderInfo(info, page.info)
      shown = from === undefined ? page.events : [...shown, ...page.events]
      replace(
        events,
        ...(shown.length
          ? shown.map(eventCard)
          : [h('p', { class: 'empty' }, 'no events to show')]),
      )
      const last = page.events[page.events.length - 1]
      replace(
        controls,
        h(
          'button',
          { type: 'button', class: 'ghost', onclick: () => flip() },
          direction === 'forward' ? 'Newest first' : 'Oldest first',
        ),
        page.events.length === PAGE && last
          ? h(
              'button',
              { type: 'button', class: 'ghost', onclick: () => void load(nextFrom(last.version)) },
              'Load more',
            )
          : null,
      )
    } catch (error) {
      replace(info, h('p', { class: 'error-line' }, error.message))
    }
  }
  const nextFrom = (version) =>
    (direction === 'forward' ? BigInt(version) + 1n : BigInt(version) - 1n).toString()
  const flip = () => {
    direction = direction === 'forward' ? 'backward' : 'forward'
    void load(undefined)
  }
  void load(undefined)
  void ctx
  return {}
}

function renderInfo(el, info) {
  const m = info.metadata
  const state =
    info.deleted === 'no'
      ? info.exists
        ? badge('live', 'ok')
        : badge('never written', 'muted')
      : badge(info.deleted === 'soft' ? 'soft-deleted' : 'tombstoned', 'bad')
  replace(
    el,
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'state'),
      h('dd', null, state),
      h('dt', null, 'version'),
      h('dd', null, num(info.version)),
      h('dt', null, 'created'),
      h('dd', null, time(info.createdAt)),
      h('dt', null, 'updated'),
      h('dd', null, time(info.updatedAt)),
      h('dt', null, 'max count'),
      h('dd', null, m.maxCount === null ? '–' : num(m.maxCount)),
      h('dt', null, 'max age'),
      h('dd', null, m.maxAgeSeconds === null ? '–' : `${num(m.maxAgeSeconds)} s`),
      h('dt', null, 'truncate before'),
      h('dd', null, m.truncateBefore === null ? '–' : num(m.truncateBefore)),
    ),
    Object.keys(m.custom ?? {}).length
      ? h('div', null, h('h3', null, 'custom metadata'), jsonBlock(m.custom))
      : null,
  )
}

/** One event: its facts, then data and metadata as text. */
export function eventCard(e) {
  return h(
    'article',
    { class: 'event', dataset: { position: e.position } },
    h(
      'header',
      null,
      h('span', { class: 'type' }, e.type),
      h(
        'span',
        { class: 'muted' },
        `v${e.version} · position ${num(e.position)} · ${time(e.createdAt)}`,
      ),
      h('span', { class: 'muted mono small' }, e.id),
    ),
    h(
      'div',
      { class: 'event-body' },
      h('div', null, h('h4', null, 'data'), jsonBlock(e.data, 'json event-data')),
      h('div', null, h('h4', null, 'metadata'), jsonBlock(e.metadata, 'json')),
    ),
  )
}
