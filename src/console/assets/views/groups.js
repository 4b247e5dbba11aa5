/** Consumer groups and task queues: counts and rates; a group's dead letters, replay, discard, reset. */
import { get } from '../api.js'
import {
  ago,
  badge,
  h,
  jsonBlock,
  link,
  num,
  numCell,
  perSecond,
  replace,
  table,
  time,
} from '../dom.js'
import { groupRoute, on, state, streamRoute } from '../state.js'

export function mount(root, params, ctx) {
  if (params.length >= 2) return mountGroup(root, params[0], params[1], ctx)
  const list = h('section', { class: 'panel', id: 'groups' })
  root.append(h('h1', null, 'Consumer groups and queues'), list)
  const draw = () => {
    const groups = state.sample?.groups ?? []
    replace(
      list,
      table(
        [
          'name',
          'kind',
          'strategy',
          'position',
          'behind',
          'pending',
          'delayed',
          'in flight',
          'retrying',
          'parked',
          'consumers',
          'rate',
        ],
        groups.map((g) => [
          link(groupRoute(g.kind, g.name), g.name),
          g.kind,
          g.strategy,
          numCell(g.position),
          numCell(g.behind, g.behind !== '0' ? 'warn' : ''),
          numCell(g.pending),
          numCell(g.delayed),
          numCell(g.inFlight),
          numCell(g.retrying, g.retrying ? 'warn' : ''),
          numCell(g.parked, g.parked ? 'bad' : ''),
          numCell(g.consumers, g.consumers ? '' : 'warn'),
          perSecond(g.positionsPerSecond),
        ]),
        { empty: 'no consumer groups or task queues yet', className: 'groups' },
      ),
    )
  }
  draw()
  return { unmount: on('sample', draw) }
}

function mountGroup(root, kind, name, ctx) {
  const counts = h('section', { class: 'cards', id: 'group-counts' })
  const letters = h('section', { class: 'panel', id: 'dead-letters' })
  const reset = resetForm(kind, name, ctx)
  root.append(
    h('p', { class: 'crumbs' }, link('/groups', 'Groups & queues'), ' / '),
    h('h1', null, name, ' ', badge(kind, 'muted')),
    counts,
    letters,
    reset,
  )
  let parkedSeen = -1
  const loadLetters = async () => {
    try {
      const page = await get('groups/dead-letters', { name, kind, limit: 100 })
      renderLetters(letters, page.deadLetters, kind, name, ctx, loadLetters)
    } catch (error) {
      replace(
        letters,
        h('h2', null, 'Dead letters'),
        h('p', { class: 'error-line' }, error.message),
      )
    }
  }
  const draw = () => {
    const g = (state.sample?.groups ?? []).find((x) => x.kind === kind && x.name === name)
    if (!g) return replace(counts, h('p', { class: 'empty' }, `no ${kind} named ${name} (yet)`))
    replace(
      counts,
      h(
        'div',
        { class: 'card' },
        h('div', { class: 'card-label' }, 'position'),
        h('div', { class: 'card-value' }, num(g.position)),
        h('div', { class: 'card-detail' }, `${num(g.behind)} behind the head`),
      ),
      card('in flight', g.inFlight),
      card('pending', g.pending, `${num(g.delayed)} delayed`),
      card('retrying', g.retrying, '', g.retrying ? 'warn' : ''),
      card('parked', g.parked, 'dead letters', g.parked ? 'bad' : '', 'parked-count'),
      card('consumers', g.consumers, `${perSecond(g.positionsPerSecond)} through the log`),
    )
    // The list is read again only when the number of dead letters changed.
    if (g.parked !== parkedSeen) {
      parkedSeen = g.parked
      void loadLetters()
    }
  }
  draw()
  if (parkedSeen === -1) void loadLetters()
  return { unmount: on('sample', draw) }
}

function card(label, value, detail = '', tone = '', id) {
  return h(
    'div',
    { class: `card ${tone}`.trim(), id },
    h('div', { class: 'card-label' }, label),
    h('div', { class: 'card-value' }, num(value)),
    detail ? h('div', { class: 'card-detail' }, detail) : null,
  )
}

function renderLetters(el, deadLetters, kind, name, ctx, reload) {
  const run = async (action, positions, confirmText) => {
    const verb = action === 'dead-letters.replay' ? 'replayed' : 'discarded'
    const result = await ctx.act(
      action,
      { name, kind, positions },
      {
        confirmText,
        done: (r) => `${verb} ${r[verb]} dead letter(s) of ${name}`,
      },
    )
    if (result) await reload()
  }
  replace(
    el,
    h(
      'div',
      { class: 'panel-head' },
      h('h2', null, `Dead letters (${deadLetters.length}${deadLetters.length === 100 ? '+' : ''})`),
      deadLetters.length
        ? replayAndDiscard(
            run,
            'all',
            'all',
            `Discard every dead letter of ${name}? They are dropped as if acked.`,
          )
        : null,
    ),
    ...(deadLetters.length
      ? deadLetters.map((l) => letterCard(l, run))
      : [h('p', { class: 'empty' }, 'no dead letters')]),
  )
}

/** Replay and Discard buttons for some dead letters (scope 'all': every one). */
function replayAndDiscard(run, positions, scope, confirmText) {
  const label = (verb) => (scope === 'all' ? `${verb} all` : verb)
  return h(
    'span',
    { class: 'buttons' },
    h(
      'button',
      {
        type: 'button',
        class: 'replay',
        onclick: () => void run('dead-letters.replay', positions),
      },
      label('Replay'),
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'danger',
        onclick: () => void run('dead-letters.discard', positions, confirmText),
      },
      label('Discard'),
    ),
  )
}

function letterCard(l, run) {
  const error = l.lastError
  return h(
    'article',
    { class: 'event dead-letter', dataset: { position: l.position } },
    h(
      'header',
      null,
      h('span', { class: 'type' }, l.event?.type ?? '(event scavenged)'),
      h('span', { class: 'mono' }, link(streamRoute(l.streamId), l.streamId)),
      h('span', { class: 'muted' }, `position ${num(l.position)}`),
      replayAndDiscard(run, [l.position], '', `Discard the dead letter at position ${l.position}?`),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'reason'),
      h('dd', { class: 'reason' }, l.reason || '–'),
      h('dt', null, 'attempts'),
      h('dd', null, num(l.attempts)),
      h('dt', null, 'last delivered'),
      h(
        'dd',
        null,
        l.lastDeliveredAt ? `${time(l.lastDeliveredAt)} (${ago(l.lastDeliveredAt)})` : '–',
      ),
      h('dt', null, 'parked'),
      h('dd', null, `${time(l.parkedAt)} (${ago(l.parkedAt)})`),
      h('dt', null, 'last error'),
      h(
        'dd',
        { class: 'error-text' },
        error ? `${error.name}: ${error.message}${error.code ? ` (${error.code})` : ''}` : '–',
      ),
    ),
    error?.stack
      ? h(
          'details',
          null,
          h('summary', null, 'stack'),
          h('pre', { class: 'json small' }, error.stack),
        )
      : null,
    l.event
      ? h(
          'div',
          { class: 'event-body' },
          h('div', null, h('h4', null, 'data'), jsonBlock(l.event.data, 'json event-data')),
          h('div', null, h('h4', null, 'metadata'), jsonBlock(l.event.metadata, 'json')),
        )
      : null,
  )
}

function resetForm(kind, name, ctx) {
  const target = h(
    'select',
    { 'aria-label': 'reset to' },
    h('option', { value: 'start' }, 'the start of the log'),
    h('option', { value: 'end' }, 'the end (skip everything)'),
    h('option', { value: 'position' }, 'a position'),
  )
  const position = h('input', {
    type: 'text',
    inputmode: 'numeric',
    placeholder: 'position',
    'aria-label': 'position',
    size: 12,
  })
  const form = h(
    'form',
    { class: 'panel reset' },
    h('h2', null, 'Reset'),
    h(
      'p',
      { class: 'muted' },
      'Moves the group to a position and empties its window (dead letters stay). In-flight deliveries lose their leases.',
    ),
    h(
      'div',
      { class: 'controls' },
      'Deliver again from ',
      target,
      position,
      h('button', { type: 'submit', class: 'danger' }, 'Reset'),
    ),
  )
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const to = target.value === 'position' ? { position: position.value.trim() } : target.value
    void ctx.act(
      'groups.reset',
      { name, kind, to },
      {
        confirmText: `Reset ${kind} ${name} to ${target.value === 'position' ? `position ${position.value}` : target.value}?`,
        done: (r) =>
          `${name} delivers again from position ${r.position} (${r.removed} left the window)`,
      },
    )
  })
  return form
}
