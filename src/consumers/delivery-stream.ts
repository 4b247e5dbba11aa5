import { Observable } from 'rxjs'
import { InvalidArgumentError } from '../errors.js'
import { ConsumerCore, type Outcome } from './consumer-core.js'
import { DeliveryLeaseLostError } from './errors.js'
import type { GroupRuntime } from './group-runtime.js'
import type { Lease } from './lease.js'
import { checkKnownKeys } from '../config/index.js'
import type { ConsumeSettings } from './options.js'
import { clip, toDeliveryError } from './to-delivery-error.js'
import type { Delivery, NackOptions } from './types.js'

/**
 * The Observable form: each subscription runs a consumer that emits deliveries, at most
 * `concurrency` unsettled at once. Unsubscribing stops it at once: unsettled deliveries are
 * aborted and released for other consumers. The Observable errors only when the consumer
 * cannot run at all (a wrong group definition, a missing schema), and completes when the store
 * closes.
 */
export function deliveryStream<E>(
  runtime: GroupRuntime<E>,
  settings: ConsumeSettings,
): Observable<Delivery<E>> {
  return new Observable<Delivery<E>>((subscriber) => {
    const core: ConsumerCore<E> = new ConsumerCore(runtime, settings, {
      capacity: () => settings.concurrency - core.held,
      deliver: (lease) => {
        lease.started = true
        subscriber.next(toDelivery(core, runtime, lease))
      },
    })
    try {
      core.start()
    } catch (error) {
      subscriber.error(error)
      return undefined
    }
    void core.done.then((result) => {
      if (result.error !== undefined) subscriber.error(result.error)
      else subscriber.complete()
    })
    return () => void core.stop({ timeoutMs: 0 })
  })
}

/**
 * Telemetry of one delivery of the Observable form, as the handler form records it: a span
 * `strata.consumer.process` from emission until the delivery is settled (ack: ok; nack or park:
 * error) or its lease ends, and the `strata.consumer.processed` counter by outcome. Returns
 * what to call when it is settled (or nothing to call when telemetry is off).
 */
function processTelemetry<E>(
  runtime: GroupRuntime<E>,
  lease: Lease<E>,
): ((outcome: Outcome) => void) | undefined {
  const telemetry = runtime.store.telemetry
  if (!telemetry.enabled) return undefined
  let end: ((failure: Error | undefined) => void) | undefined
  void telemetry
    .span(
      'strata.consumer.process',
      {
        'strata.group': runtime.displayName,
        'strata.position': lease.position.toString(),
        'strata.attempt': lease.attempt,
      },
      () =>
        new Promise<void>((resolve, reject) => {
          end = (failure) => (failure === undefined ? resolve() : reject(failure))
        }),
    )
    .catch(() => undefined) // recorded on the span; nothing to report
  const signal = lease.controller.signal
  const onAbort = () => {
    end?.(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)))
    end = undefined
  }
  signal.addEventListener('abort', onAbort, { once: true })
  return (outcome) => {
    signal.removeEventListener('abort', onAbort)
    telemetry.count('strata.consumer.processed', 1, {
      'strata.group': runtime.displayName,
      'strata.outcome': outcome.kind,
    })
    end?.(
      outcome.kind === 'ack'
        ? undefined
        : new Error(
            outcome.kind === 'park'
              ? `parked: ${outcome.reason}`
              : (outcome.error?.message ?? 'nacked'),
          ),
    )
    end = undefined
  }
}

function toDelivery<E>(
  core: ConsumerCore<E>,
  runtime: GroupRuntime<E>,
  lease: Lease<E>,
): Delivery<E> {
  const group = runtime.displayName
  const settled = processTelemetry(runtime, lease)
  const settle = async (outcome: Outcome) => {
    if (lease.state === 'held') settled?.(outcome)
    if (!(await core.settle(lease, outcome))) {
      throw new DeliveryLeaseLostError(
        group,
        lease.position,
        lease.state === 'released' ? 'stopped' : 'lost',
      )
    }
  }
  return {
    event: lease.event as E,
    // On first use (see the handler form).
    get signal() {
      return lease.controller.signal
    },
    attempt: lease.attempt,
    maxAttempts: core.maxAttempts,
    lastError: lease.lastError,
    group,
    consumerId: core.id,
    ack: () => settle({ kind: 'ack' }),
    nack: (options: NackOptions = {}) => {
      const invalid = nackOptionsError(options)
      if (invalid !== undefined) return Promise.reject(invalid)
      const delayMs = options.retryAfterMs
      if (
        delayMs !== undefined &&
        (typeof delayMs !== 'number' || !(delayMs >= 0) || !Number.isFinite(delayMs))
      ) {
        return Promise.reject(
          new InvalidArgumentError('retryAfterMs', delayMs, 'must be a finite number >= 0'),
        )
      }
      return settle({
        kind: 'retry',
        delayMs,
        error: options.error === undefined ? undefined : toDeliveryError(options.error),
      })
    },
    park: (reason: string) => {
      if (typeof reason !== 'string' || reason.length === 0) {
        return Promise.reject(
          new InvalidArgumentError('reason', reason, 'must be a non-empty string'),
        )
      }
      return settle({ kind: 'park', reason: clip(reason, 2000), error: undefined })
    },
  }
}

/** Why nack() options are invalid (not an object, an unknown key), or undefined. */
function nackOptionsError(options: unknown): InvalidArgumentError | undefined {
  if (typeof options !== 'object' || options === null) {
    return new InvalidArgumentError('options', options, 'must be an object')
  }
  try {
    checkKnownKeys(
      options,
      ['retryAfterMs', 'error'],
      'an option of nack()',
      {},
      '',
      InvalidArgumentError,
    )
    return undefined
  } catch (error) {
    return error as InvalidArgumentError
  }
}
