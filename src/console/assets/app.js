/**
 * The console's page: a hash router over the views, the live connection (server-sent events,
 * one per tab, fed by the server's one subscription and sampler) and the action token.
 */
import {
  act as postAction,
  adoptTokenFromFragment,
  ApiError,
  get,
  getToken,
  setToken,
} from './api.js'
import { replace } from './dom.js'
import { emit, state } from './state.js'
import * as actionsView from './views/actions.js'
import * as groupsView from './views/groups.js'
import * as overviewView from './views/overview.js'
import * as projectionsView from './views/projections.js'
import * as streamsView from './views/streams.js'
import * as tailView from './views/tail.js'

const VIEWS = {
  overview: overviewView,
  streams: streamsView,
  tail: tailView,
  projections: projectionsView,
  groups: groupsView,
  actions: actionsView,
}
const TAIL_KEPT = 500
const HISTORY_KEPT = 1000

const view = document.getElementById('view')
const noticeBox = document.getElementById('notice')
let current = null
let noticeTimer

/** Shows a short message under the header. */
export function notify(message, tone = 'info') {
  noticeBox.textContent = message
  noticeBox.className = `notice ${tone}`
  noticeBox.hidden = false
  clearTimeout(noticeTimer)
  noticeTimer = setTimeout(() => (noticeBox.hidden = true), tone === 'error' ? 12000 : 5000)
}

/** Whether this tab may try actions: the server allows them and a token was given. */
function canAct() {
  return state.config?.allowActions === true && getToken() !== ''
}

/**
 * Runs an action (after a confirmation when `confirmText` is given); returns the server's
 * answer, or undefined when it was not done. Failures and refusals are shown, not thrown.
 */
async function act(action, body, { confirmText, done } = {}) {
  if (state.config?.allowActions !== true) {
    notify('This console is read-only: start it with --allow-actions to change anything.', 'error')
    return undefined
  }
  if (getToken() === '') {
    notify('Paste the action token (printed when the console started) to unlock actions.', 'error')
    document.getElementById('token').focus()
    return undefined
  }
  if (confirmText && !confirm(confirmText)) return undefined
  try {
    const result = await postAction(action, body)
    notify(done ? done(result) : `${action}: done`, 'ok')
    return result
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      setToken('')
      renderMode()
    }
    notify(`${action}: ${error.message}`, 'error')
    return undefined
  }
}

const ctx = { act, canAct, notify, navigate: (route) => (location.hash = `#${route}`) }

function route() {
  const [page = 'overview', ...rest] = location.hash.replace(/^#\/?/, '').split('/')
  return { page: VIEWS[page] ? page : 'overview', params: rest.map(decodeURIComponent) }
}

function render() {
  const { page, params } = route()
  current?.unmount?.()
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.page === page)
  }
  replace(view)
  current = VIEWS[page].mount(view, params, ctx) ?? {}
  document.title = `strata console · ${page}`
}

function renderMode() {
  const mode = document.getElementById('mode')
  const unlock = document.getElementById('unlock')
  const lock = document.getElementById('lock')
  if (state.config?.allowActions !== true) {
    mode.textContent = 'read-only'
    mode.className = 'pill muted'
    unlock.hidden = true
    lock.hidden = true
  } else if (getToken() === '') {
    mode.textContent = 'actions locked'
    mode.className = 'pill warn'
    unlock.hidden = false
    lock.hidden = true
  } else {
    mode.textContent = 'actions unlocked'
    mode.className = 'pill ok'
    unlock.hidden = true
    lock.hidden = false
  }
  emit('token', canAct())
}

function connect() {
  const live = document.getElementById('live')
  const source = new EventSource('/api/live')
  source.addEventListener('open', () => {
    live.textContent = 'live'
    live.className = 'pill ok'
  })
  source.addEventListener('error', () => {
    live.textContent = 'reconnecting…'
    live.className = 'pill warn'
  })
  source.addEventListener('hello', (e) => {
    const hello = JSON.parse(e.data)
    state.sample = hello.sample
    state.history = hello.history
    mergeTail(hello.tail, 0)
    emit('sample', state.sample)
  })
  source.addEventListener('sample', (e) => {
    const { sample, point } = JSON.parse(e.data)
    state.sample = sample
    if (point && state.history[state.history.length - 1]?.at !== point.at) {
      state.history = [...state.history, point].slice(-HISTORY_KEPT)
    }
    emit('sample', sample)
  })
  source.addEventListener('tail', (e) => {
    const batch = JSON.parse(e.data)
    mergeTail(batch.events, batch.skipped)
  })
}

/** Adds events to the shared tail (once each, by position) and tells the views. */
export function mergeTail(events, skipped) {
  const known = new Set(state.tail.map((t) => t.position))
  const fresh = events.filter((t) => !known.has(t.position))
  state.tail = [...state.tail, ...fresh]
    .sort((a, b) => (BigInt(a.position) < BigInt(b.position) ? -1 : 1))
    .slice(-TAIL_KEPT)
  emit('tail', { events: fresh, skipped })
}
ctx.mergeTail = mergeTail

async function start() {
  adoptTokenFromFragment()
  try {
    state.config = await get('config')
  } catch (error) {
    notify(`cannot reach the console's server: ${error.message}`, 'error')
  }
  document.getElementById('schema').textContent = state.config
    ? `schema ${state.config.schema}`
    : ''
  document.getElementById('unlock').addEventListener('submit', (e) => {
    e.preventDefault()
    const input = document.getElementById('token')
    setToken(input.value.trim())
    input.value = ''
    renderMode()
  })
  document.getElementById('lock').addEventListener('click', () => {
    setToken('')
    renderMode()
  })
  renderMode()
  window.addEventListener('hashchange', render)
  connect()
  render()
}

void start()
