import { GOAL_CONVERSIONS_COLLECTION, TOUCHPOINTS_COLLECTION } from '../attribution/attribution-model';
import { FUNNEL_CONTACTS_COLLECTION } from '../funnel/funnel-contacts';
import { JOURNEY_MESSAGES_COLLECTION, JOURNEY_RUNS_COLLECTION } from '../journeys/journey-facts';
import { TOPIC_FLOW_MODEL } from '../health/topic-flow.contributor';
import { EVENT_COUNTS_COLLECTION } from '../event-counts/event-counter.service';
import { TALLIES_COLLECTION } from './bucketed-counts';

/**
 * Every read model's collection: what a recompute rebuilds and compares. (Settings are input, copied; the claims of
 * first-seen events are bookkeeping, not a report.)
 */
export const READ_MODEL_COLLECTIONS: readonly string[] = [
  TALLIES_COLLECTION,
  EVENT_COUNTS_COLLECTION,
  FUNNEL_CONTACTS_COLLECTION,
  TOUCHPOINTS_COLLECTION,
  GOAL_CONVERSIONS_COLLECTION,
  JOURNEY_MESSAGES_COLLECTION,
  JOURNEY_RUNS_COLLECTION,
];

/** Fields that say when or through which record a document was written, not what it reports. */
export const BOOKKEEPING_FIELDS: readonly string[] = ['applied', 'updatedAt'];

/**
 * Tallies a rebuild cannot reproduce: how long reporting took to see each event is a fact about the run that took it
 * in, not about the events (integration health's latency histogram).
 */
export const PROCESSING_TIME_MODELS: readonly string[] = [TOPIC_FLOW_MODEL];
