import type { ContactDoc } from '../contacts/contact.model';
import type { ScoreFields } from '../contacts/contact.repository';
import type { ContactScore } from '../models/scoring-engine';

/** What a score computation produced, for lifecycle decisions. */
export interface Scored {
  total: number;
  mqlThreshold: number;
}

/** Whether a stored score is stale for this model version or result (a model change, or decay since). */
export function isRescoreNeeded(contact: ContactDoc, version: number, result: ContactScore): boolean {
  return (
    contact.scoredRevision !== contact.revision ||
    contact.modelVersion !== version ||
    contact.score !== result.total
  );
}

/** The score fields of a contact document, as `scoreContact` computed them under model `version`. */
export function scoreFieldsOf(result: ContactScore, version: number): ScoreFields {
  return {
    score: result.total,
    fitScore: result.fit,
    engagementScore: result.engagement,
    breakdown: result.breakdown,
    modelVersion: version,
  };
}
