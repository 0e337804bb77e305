import type { TopicEvents, TopicName } from './generated';

/** The decoded event type of a topic, e.g. `EventOf<'leads.scored'>` is `LeadScored`. */
export type EventOf<T extends TopicName> = TopicEvents[T];

/** Topics whose records carry the shared metadata envelope (all but dead letters). */
export type DomainTopic = {
  [T in TopicName]: TopicEvents[T] extends { metadata: unknown } ? T : never;
}[TopicName];
