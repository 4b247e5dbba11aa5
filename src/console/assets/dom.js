/**
 * DOM helpers. Everything the console shows is built with createElement and textContent:
 * event data is user input, and no string from the server is ever parsed as markup.
 */

/**
 * An element: h('td', { class: 'num' }, 'text', child). Attribute values go through
 * setAttribute (never as markup); `on*` keys of functions become listeners.
 * @param {string} tag
 * @param {Record<string, unknown> | null} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), /** @type {EventListener} */ (value))
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value)
    } else {
      el.setAttribute(key, value === true ? '' : String(value))
    }
  }
  append(el, children)
  return el
}

/** Appends children (strings become text nodes). */
export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    el.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child)
  }
  return el
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren()
  return append(el, children)
}

/** JSON shown as text, indented. */
export function jsonBlock(value, className = 'json') {
  const text = typeof value === 'string' ? prettyJsonText(value) : JSON.stringify(value, null, 2)
  return h('pre', { class: className }, text ?? 'null')
}

/** JSON text (possibly cut) indented when it parses, else as it is. */
function prettyJsonText(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}

const numberFormat = new Intl.NumberFormat('en-US')

/** 1234567 -> "1,234,567"; numbers given as strings (bigints) too. */
export function num(value) {
  if (value === null || value === undefined || value === '') return '–'
  if (typeof value === 'string') return value.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return numberFormat.format(value)
}

/** A rate: "12.3/s". */
export function perSecond(value) {
  if (!value) return '0/s'
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)}/s`
}

/** An ISO date as local time, with seconds. */
export function time(iso) {
  if (!iso) return '–'
  const d = new Date(iso)
  return d.toLocaleString('en-GB', { hour12: false })
}

/** "3 s ago", "2 min ago". */
export function ago(iso) {
  if (!iso) return '–'
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000)
  if (seconds < 60) return `${Math.round(seconds)} s ago`
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`
  return `${Math.round(seconds / 86400)} d ago`
}

/** A table: headers, then rows of cells (nodes or text). */
export function table(headers, rows, { empty = 'nothing yet', className = '' } = {}) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty)
  return h(
    'table',
    { class: className },
    h('thead', null, h('tr', null, ...headers.map((x) => h('th', null, x)))),
    h('tbody', null, ...rows.map((cells) => h('tr', null, ...cells.map((c) => cellOf(c))))),
  )
}

function cellOf(cell) {
  if (cell instanceof Node && cell.nodeName === 'TD') return cell
  return h('td', null, cell)
}

/** A numeric cell, right-aligned. */
export function numCell(value, className = '') {
  return h('td', { class: `num ${className}`.trim() }, num(value))
}

/** A link to a page of the console (hash routes: nothing reaches the server). */
export function link(route, text) {
  return h('a', { href: `#${route}` }, text)
}

/** A small stat card. */
export function card(label, value, detail, { tone = '' } = {}) {
  return h(
    'div',
    { class: `card ${tone}`.trim(), 'data-stat': label.toLowerCase().replace(/\s+/g, '-') },
    h('div', { class: 'card-label' }, label),
    h('div', { class: 'card-value' }, value),
    detail ? h('div', { class: 'card-detail' }, detail) : null,
  )
}

/** A coloured label. */
export function badge(text, tone = '') {
  return h('span', { class: `badge ${tone}`.trim() }, text)
}
