/**
 * Every event type a webhook can subscribe to, in one place: a new type is a line here (and the
 * code that records it). `orderedBy` names what the type's events are ordered by for one
 * subscription (see delivery-plan.ts): events of one image go out in the order they happened.
 */
export const EVENT_TYPES = {
  'version.published': { orderedBy: 'image', description: 'A version finished publishing' },
  'version.publish_failed': {
    orderedBy: 'image',
    description: 'A publish job failed for good (no automatic retry left)',
  },
  'version.withdrawn': { orderedBy: 'image', description: 'A published version was withdrawn' },
  'alias.moved': {
    orderedBy: 'image',
    description: 'An alias was created or now points at another version',
  },
  'alias.deleted': { orderedBy: 'image', description: 'An alias was deleted' },
  'remote.sync_finished': {
    orderedBy: 'remote',
    description: 'A sync from an upstream Simple Streams remote finished',
  },
} as const satisfies Record<string, { orderedBy: 'image' | 'remote'; description: string }>;

export type EventType = keyof typeof EVENT_TYPES;

/** What a subscription may list in `events`. */
export const SUBSCRIBABLE_EVENT_TYPES = Object.keys(EVENT_TYPES) as EventType[];

/**
 * The test delivery of POST /v1/webhooks/{id}/test: sent to that one subscription only, never
 * subscribed to, ordered with nothing.
 */
export const PING = 'ping';

export type DeliveredEventType = EventType | typeof PING;

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(EVENT_TYPES, value);
}

/**
 * The key that orders an event among the others of the same subscription: `image:<name>` for
 * image events, `remote:<name>` for remote events, null (not ordered) for a ping.
 */
export function orderingKey(type: DeliveredEventType, subject: string | null): string | null {
  if (type === PING || subject === null) return null;
  return `${EVENT_TYPES[type].orderedBy}:${subject}`;
}
