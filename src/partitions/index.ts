/**
 * Range partitioning of events by position and archiving of old partitions (issue 14,
 * docs/partitioning.md): administrative calls, run as the schema owner. Owned by src/partitions/.
 */
export {
  archivePartition,
  createPartitions,
  enablePartitioning,
  partitionsStatus,
  type ArchivedPartition,
  type ArchivePartitionOptions,
  type ArchiveResult,
  type CreatePartitionsOptions,
  type EnablePartitioningOptions,
  type EventPartition,
  type PartitionsStatus,
} from './partitions.js'
