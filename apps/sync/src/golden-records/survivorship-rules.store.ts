import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import {
  SURVIVORSHIP_RULES_MODEL,
  type GoldenEntity,
  type SurvivorshipRulesDoc,
} from './golden-record.model';
import { survivorshipRules, type SurvivorshipRules } from './survivorship';

/**
 * Until a workspace sets its own: the CRM first, then the lead pipeline, then the email platform; the latest edit
 * wins a field, except the lifecycle stage, which the CRM owns (sales moves deals there).
 */
export const DEFAULT_RULES: SurvivorshipRules = survivorshipRules.parse({
  sources: ['hubspot', 'leads', 'mailchimp'],
  default: 'most-recent',
  fields: { lifecycleStage: { rule: 'source-priority' } },
});

/** How long a replica trusts the rules it read: another replica's change reaches it within this. */
const CACHE_MS = 5_000;

/** Each workspace's survivorship rules per entity, read through a short cache (every batch asks). */
@Injectable()
export class SurvivorshipRulesStore {
  private readonly cache = new Map<string, { rules: SurvivorshipRules; until: number }>();

  constructor(@Inject(SURVIVORSHIP_RULES_MODEL) private readonly model: Model<SurvivorshipRulesDoc>) {}

  async of(workspaceId: string, entity: GoldenEntity): Promise<SurvivorshipRules> {
    const id = `${workspaceId}|${entity}`;
    const cached = this.cache.get(id);
    if (cached && cached.until > Date.now()) return cached.rules;
    const doc = await this.model.findById(id).lean();
    const rules = doc ? survivorshipRules.parse(doc.rules) : DEFAULT_RULES;
    this.cache.set(id, { rules, until: Date.now() + CACHE_MS });
    return rules;
  }

  async set(workspaceId: string, entity: GoldenEntity, rules: SurvivorshipRules): Promise<void> {
    const id = `${workspaceId}|${entity}`;
    await this.model.updateOne(
      { _id: id },
      { $set: { workspaceId, entity, rules, updatedAt: new Date() } },
      { upsert: true },
    );
    this.cache.set(id, { rules, until: Date.now() + CACHE_MS });
  }
}
