import type { Observable } from 'rxjs'
import { toBigInt } from '../db/index.js'
import { InvalidArgumentError } from '../errors.js'
import { createDeadLetters } from './dead-letters.js'
import { deliveryStream } from './delivery-stream.js'
import type { GroupRuntime } from './group-runtime.js'
import { startHandlerConsumer } from './handler-consumer.js'
import { checkConsumeOptions, checkDeliveriesOptions } from './options.js'
import { describeSource } from './group-definition.js'
import { checkResetTarget } from './positions.js'
import type {
  ConsumeOptions,
  Consumer,
  ConsumerGroup,
  ConsumerGroupStatus,
  ConsumerHandler,
  ConsumerStrategy,
  DeadLetters,
  DeliveriesOptions,
  Delivery,
  ResetResult,
  ResetTarget,
  SourceChange,
  StopOptions,
} from './types.js'

/** The ConsumerGroup API over a runtime (task queues extend it). */
export class ConsumerGroupHandle<E> implements ConsumerGroup<E> {
  readonly deadLetters: DeadLetters<E>

  constructor(protected readonly runtime: GroupRuntime<E>) {
    this.deadLetters = createDeadLetters(runtime)
  }

  /** The name given to store.consumerGroup() (or store.queue()). */
  get name(): string {
    return this.runtime.displayName
  }

  get strategy(): ConsumerStrategy {
    return this.runtime.settings.definition.strategy
  }

  consume(handler: ConsumerHandler<E>, options?: ConsumeOptions): Consumer {
    if (typeof handler !== 'function') {
      throw new InvalidArgumentError(
        'handler',
        handler,
        'must be a function; for the Observable form use group.deliveries(options)',
      )
    }
    return startHandlerConsumer(this.runtime, handler, checkConsumeOptions(options))
  }

  deliveries(options?: DeliveriesOptions): Observable<Delivery<E>> {
    return deliveryStream(this.runtime, checkDeliveriesOptions(options))
  }

  async ensure(): Promise<void> {
    await this.runtime.ensure()
  }

  async status(): Promise<ConsumerGroupStatus> {
    const groupId = await this.runtime.groupId()
    const [row, members] = await Promise.all([
      this.runtime.db.status(groupId),
      this.runtime.db.consumers(groupId),
    ])
    if (row === undefined) {
      this.runtime.forget() // deleted meanwhile: the next call creates it again
      return this.status()
    }
    const position = toBigInt(row.cursor_position)
    const headPosition = toBigInt(row.head)
    return {
      name: this.name,
      kind: this.runtime.kind,
      strategy: this.strategy,
      position,
      headPosition,
      behind: headPosition > position ? headPosition - position : 0n,
      pending: Number(row.pending),
      delayed: Number(row.delayed),
      inFlight: Number(row.in_flight),
      retrying: Number(row.retrying),
      parked: Number(row.parked),
      consumers: members.length,
      members,
    }
  }

  async reset(to: ResetTarget): Promise<ResetResult> {
    const start = checkResetTarget(to)
    const result = await this.runtime.db.reset(await this.runtime.groupId(), start)
    if (result === undefined) {
      this.runtime.forget()
      return this.reset(to)
    }
    await this.runtime.wakeEveryone()
    // The database keeps a cursor (the last position done); callers think in the first
    // position delivered again: the one they asked for.
    return { position: result.cursor + 1n, after: result.cursor, removed: result.removed }
  }

  async changeSource(): Promise<SourceChange> {
    if (this.runtime.kind === 'queue') {
      throw new InvalidArgumentError('queue', this.name, 'a task queue has no source to change')
    }
    await this.runtime.ready()
    const ours = this.runtime.settings.definition
    const changed = await this.runtime.db.changeSource(this.runtime.name, ours)
    if (changed === undefined) {
      // No group yet: creating it with this source is the change.
      await this.runtime.ensure()
      const { position } = await this.status()
      return { from: describeSource(ours), to: describeSource(ours), position }
    }
    this.runtime.forget() // checked again against the stored definition, which is now ours
    await this.runtime.wakeEveryone()
    return {
      from: describeSource(changed.before),
      to: describeSource(ours),
      position: changed.cursor,
    }
  }

  async stop(options?: StopOptions): Promise<void> {
    await this.runtime.stopAll(options)
  }

  async delete(): Promise<boolean> {
    await this.runtime.ready()
    const existed = await this.runtime.db.delete(this.runtime.name)
    this.runtime.forget()
    return existed
  }
}
