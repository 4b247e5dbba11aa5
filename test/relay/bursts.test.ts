import { describe, expect, it } from 'vitest'
import { bursts } from '../../src/relay/bursts.js'

/** Items 1–3 ready at once, then 4 after a timer (I/O), then 5 and 6 at once. */
async function* source(): AsyncGenerator<number> {
  yield 1
  yield 2
  yield 3
  await new Promise((resolve) => setTimeout(resolve, 20))
  yield 4
  yield 5
  yield 6
}

async function collect(max: number): Promise<number[][]> {
  const out: number[][] = []
  for await (const burst of bursts(source(), () => max)) out.push(burst)
  return out
}

describe('bursts', () => {
  it('groups the items ready without waiting, up to the maximum, and waits for the first of each burst', async () => {
    expect(await collect(10)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ])
    expect(await collect(2)).toEqual([[1, 2], [3], [4, 5], [6]])
    expect(await collect(1)).toEqual([[1], [2], [3], [4], [5], [6]])
  })

  it('returns the source when left early', async () => {
    let returned = false
    async function* tracked() {
      try {
        yield* source()
      } finally {
        returned = true
      }
    }
    for await (const burst of bursts(tracked(), () => 2)) {
      expect(burst).toEqual([1, 2])
      break
    }
    expect(returned).toBe(true)
  })
})
