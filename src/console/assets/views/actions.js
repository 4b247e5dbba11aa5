/** The action log: every action asked of this console, done, refused or failed. */
import { get } from '../api.js'
import { badge, h, replace, table, time } from '../dom.js'
import { on } from '../state.js'

export function mount(root, _params, ctx) {
  const list = h('section', { class: 'panel', id: 'audit' })
  root.append(
    h('h1', null, 'Action log'),
    h('p', { class: 'muted' }, 'Kept in memory since the console started, and written to its log.'),
    list,
  )
  const load = async () => {
    try {
      const { entries } = await get('audit')
      replace(
        list,
        table(
          ['time', 'action', 'target', 'outcome', 'status', 'detail', 'from'],
          entries.map((e) => [
            time(e.at),
            h('td', { class: 'mono' }, e.action),
            e.target ?? '–',
            h('td', null, badge(e.outcome, e.outcome === 'done' ? 'ok' : 'bad')),
            String(e.status),
            h('td', { class: 'small' }, e.detail),
            e.remote ?? '–',
          ]),
          { empty: 'no actions yet' },
        ),
      )
    } catch (error) {
      ctx.notify(error.message, 'error')
    }
  }
  void load()
  return { unmount: on('sample', () => void load()) }
}
