/**
 * `strata/testing`: helpers for users' own tests (issue 5): given/when/then for aggregates and
 * projection specs. Owned by src/testing/.
 */
export {}
