import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { API_REPORT_FILE, apiReport } from '../../scripts/api-report.js'

describe('the public API', () => {
  it('is what test/api/public-api.txt says (regenerate it with npm run -s api:report)', () => {
    // Every exported name of the three entries with its kind and its emitted declaration: an
    // API change shows in review as a diff of that file.
    expect(apiReport()).toBe(readFileSync(API_REPORT_FILE, 'utf8'))
  }, 120_000)
})
