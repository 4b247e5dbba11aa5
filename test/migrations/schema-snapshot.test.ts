import { readFileSync } from 'node:fs'
import { describe, expect, inject, it } from 'vitest'
import { freshSnapshot, SNAPSHOT_FILE } from '../../scripts/schema-snapshot.js'

describe('migrations/schema.snapshot.sql', () => {
  it('is what the migrations create (regenerate it with npm run schema:snapshot)', async () => {
    const current = await freshSnapshot(inject('serverUrl'))
    expect(current).toBe(readFileSync(SNAPSHOT_FILE, 'utf8'))
  })
})
