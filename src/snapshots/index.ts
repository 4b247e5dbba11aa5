/** Snapshots of aggregate state: codec, policy, storage and truncation (issue 5). */
export { SnapshotError, SnapshotRequiredError, type SnapshotOperation } from './errors.js'
export { richJsonCodec, SnapshotCodecError, type SnapshotCodec } from './snapshot-codec.js'
export {
  resolveSnapshotOptions,
  type SnapshotOptions,
  type SnapshotPolicy,
  type SnapshotPolicyInfo,
  type SnapshotSettings,
} from './snapshot-policy.js'
export {
  reportSnapshotError,
  trySnapshot,
  truncateBehindSnapshot,
  writeSnapshot,
  type SnapshotTarget,
} from './snapshot-store.js'
