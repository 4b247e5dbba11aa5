/** $all tail: the newest events, live, from the console's one subscription. */
import { get } from '../api.js'
import { h, link, num, replace, time } from '../dom.js'
import { on, state, streamRoute } from '../state.js'

const SHOWN = 200

export function mount(root, _params, ctx) {
  let paused = false
  let skipped = 0
  const filter = h('input', {
    type: 'search',
    placeholder: 'filter by stream id or type',
    'aria-label': 'filter',
    autocomplete: 'off',
  })
  const pause = h('button', { type: 'button', class: 'ghost' }, 'Pause')
  const info = h('span', { class: 'muted' })
  const list = h('section', { id: 'tail', class: 'tail' })
  root.append(
    h('h1', null, '$all tail'),
    h('div', { class: 'controls' }, filter, pause, info),
    list,
  )

  const draw = () => {
    if (paused) return
    const text = filter.value.trim().toLowerCase()
    const events = state.tail
      .filter(
        (e) =>
          !text || e.streamId.toLowerCase().includes(text) || e.type.toLowerCase().includes(text),
      )
      .slice(-SHOWN)
      .reverse()
    replace(
      list,
      ...(events.length
        ? events.map(row)
        : [h('p', { class: 'empty' }, 'no events yet: new appends show up here as they commit')]),
    )
    info.textContent = `${num(state.tail.length)} events kept${skipped ? `, ${num(skipped)} skipped while busy` : ''}`
  }
  pause.addEventListener('click', () => {
    paused = !paused
    pause.textContent = paused ? 'Resume' : 'Pause'
    draw()
  })
  filter.addEventListener('input', draw)
  const stop = on('tail', (batch) => {
    skipped += batch.skipped
    draw()
  })
  // What was appended before this tab opened: the last events of the log.
  get('tail', { limit: 50 })
    .then((page) => ctx.mergeTail(page.events, 0))
    .catch((error) => ctx.notify(error.message, 'error'))
  draw()
  return { unmount: stop }
}

function row(e) {
  return h(
    'article',
    { class: 'tail-row', dataset: { position: e.position } },
    h('span', { class: 'num mono' }, num(e.position)),
    h('span', { class: 'mono' }, link(streamRoute(e.streamId), `${e.streamId}@${e.version}`)),
    h('span', { class: 'type' }, e.type),
    h('span', { class: 'muted small' }, time(e.createdAt)),
    h('code', { class: 'preview' }, e.data + (e.truncated ? ' …' : '')),
  )
}
