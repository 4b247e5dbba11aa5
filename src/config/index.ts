/** Checks of options objects shared by every capability: known keys, numeric ranges. */
export { checkKnownKeys, checkOptions, optionKeys } from './known-keys.js'
export { intOption, numberOption } from './numbers.js'
