/** Event types: the zod registry, upcasting, and JSON-safe serialisation. */
export { JsonShapeError, MAX_JSON_DEPTH, loneSurrogate, toJsonText } from './json.js'
export {
  EventTypes,
  UpcastError,
  defineEvent,
  toIssues,
  type DefineEventOptions,
  type EventDataOf,
  type EventDefinition,
  type EventInputOf,
  type EventRegistry,
  type EventSchemaOf,
  type EventTypeOf,
  type Upcaster,
} from './registry.js'
