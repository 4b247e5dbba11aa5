/** A small line chart in SVG, drawn with createElementNS (no markup strings). */
const SVG = 'http://www.w3.org/2000/svg'

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  if (text !== undefined) node.textContent = text
  return node
}

/**
 * @param {Array<Record<string, number>>} points  each with `at` (ms) and the series' keys
 * @param {Array<{ key: string, label: string, color: string }>} series
 * @param {{ title: string, unit: string }} options
 */
export function lineChart(points, series, { title, unit }) {
  const width = 560
  const height = 170
  const pad = { left: 48, right: 12, top: 26, bottom: 22 }
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart',
    role: 'img',
    'aria-label': title,
  })
  svg.append(el('text', { x: pad.left, y: 15, class: 'chart-title' }, title))
  const max = Math.max(1, ...points.flatMap((p) => series.map((s) => p[s.key] ?? 0)))
  const innerW = width - pad.left - pad.right
  const innerH = height - pad.top - pad.bottom
  for (const fraction of [0, 0.5, 1]) {
    const y = pad.top + innerH * (1 - fraction)
    svg.append(el('line', { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: 'grid' }))
    svg.append(
      el(
        'text',
        { x: pad.left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' },
        short(max * fraction),
      ),
    )
  }
  const first = points[0]?.at ?? Date.now()
  const last = points[points.length - 1]?.at ?? first
  const span = Math.max(1, last - first)
  svg.append(
    el('text', { x: pad.left, y: height - 5, class: 'axis' }, points.length ? agoLabel(span) : ''),
    el(
      'text',
      { x: width - pad.right, y: height - 5, class: 'axis', 'text-anchor': 'end' },
      `now (${unit})`,
    ),
  )
  series.forEach((s, i) => {
    const coords = points.map((p) => {
      const x = pad.left + ((p.at - first) / span) * innerW
      const y = pad.top + innerH * (1 - (p[s.key] ?? 0) / max)
      return `${x.toFixed(1)},${y.toFixed(1)}`
    })
    if (coords.length === 1) coords.push(coords[0].replace(/^[^,]+/, String(width - pad.right)))
    if (coords.length > 0) {
      svg.append(
        el('polyline', {
          points: coords.join(' '),
          fill: 'none',
          stroke: s.color,
          'stroke-width': 2,
        }),
      )
    }
    const lx = width - pad.right - (series.length - i) * 130 + 10
    svg.append(el('rect', { x: lx, y: 7, width: 10, height: 10, rx: 2, fill: s.color }))
    svg.append(el('text', { x: lx + 14, y: 16, class: 'legend' }, s.label))
  })
  return svg
}

function short(value) {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`
  return value >= 10 || value === 0 ? String(Math.round(value)) : value.toFixed(1)
}

function agoLabel(ms) {
  return ms < 120_000 ? `${Math.round(ms / 1000)} s ago` : `${Math.round(ms / 60_000)} min ago`
}
