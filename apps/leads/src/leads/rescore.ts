import { derivedEventId, originMetadata } from '@tributary/messaging';
import type { ContactRepository } from '../contacts/contact.repository';
import type { LeadScoring } from './lead-scoring.service';

export interface RescoreSummary {
  contacts: number;
  changed: number;
  modelVersion: number;
}

/**
 * Rescores every live contact of a workspace under its current model, as of one instant, so a model change reaches
 * contacts that see no new event. Deterministic: the same model, facts and `asOf` give the same scores, and the
 * announcements' ids derive from them, so a repeated run publishes nothing new to consumers that dedupe.
 */
export async function rescoreWorkspace(input: {
  contacts: ContactRepository;
  scoring: LeadScoring;
  workspaceId: string;
  modelVersion: number;
  asOf: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<RescoreSummary> {
  const { contacts, scoring, workspaceId, asOf } = input;
  const total = await contacts.countLive(workspaceId);
  input.onProgress?.(0, total);
  let done = 0;
  let changed = 0;
  for await (const contact of contacts.eachLive(workspaceId)) {
    const cause = originMetadata({
      workspaceId,
      source: 'scoring-rescore',
      eventId: derivedEventId(contact._id, `rescore/${input.modelVersion}/${asOf}/${contact.revision}`),
    });
    if (await scoring.rescore(contact, asOf, cause)) changed += 1;
    done += 1;
    input.onProgress?.(done, total);
  }
  return { contacts: done, changed, modelVersion: input.modelVersion };
}
