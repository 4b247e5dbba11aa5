/** Logging and OpenTelemetry. */
export { componentLogger, errorFields, silentLogger, type StrataLogger } from './logger.js'
export {
  Telemetry,
  type OtelCounter,
  type OtelHistogram,
  type OtelMeter,
  type OtelSpan,
  type OtelTracer,
  type TelemetryOption,
} from './telemetry.js'
