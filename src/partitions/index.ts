/**
 * Range partitioning of events by position and archiving of old partitions (issue 14,
 * docs/partitioning.md): administrative calls, run as the schema owner. Owned by src/partitions/.
 */
export {
  archivePartition,
  archivePartitions,
  createPartitions,
  enablePartitioning,
  partitionsStatus,
  partitionsToArchive,
  type ArchivedPartition,
  type ArchivePartitionOptions,
  type ArchivePartitionsOptions,
  type ArchiveResult,
  type CreatePartitionsOptions,
  type EnablePartitioningOptions,
  type EventPartition,
  type PartitionsStatus,
} from './partitions.js'
