/** Checks of options objects shared by every capability: known keys, numeric ranges. */
export { checkKnownKeys } from './known-keys.js'
export { intOption, numberOption } from './numbers.js'
