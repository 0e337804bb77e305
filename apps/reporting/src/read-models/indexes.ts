import type { Connection } from 'mongoose';
import { TALLIES_COLLECTION } from './bucketed-counts';
import { FUNNEL_CONTACTS_COLLECTION } from '../funnel/funnel-contacts';
import { GOAL_CONVERSIONS_COLLECTION, TOUCHPOINTS_COLLECTION } from '../attribution/attribution-model';

/** The indexes the reports' queries need (idempotent: an index that exists is left as it is). */
export async function ensureReportIndexes(connection: Connection): Promise<void> {
  const indexes: [string, Record<string, 1>][] = [
    [TALLIES_COLLECTION, { workspaceId: 1, model: 1, grain: 1, bucketAt: 1 }],
    [FUNNEL_CONTACTS_COLLECTION, { workspaceId: 1, root: 1 }],
    [TOUCHPOINTS_COLLECTION, { workspaceId: 1, contactId: 1, at: 1 }],
    [GOAL_CONVERSIONS_COLLECTION, { workspaceId: 1, at: 1 }],
  ];
  for (const [collection, spec] of indexes) await connection.collection(collection).createIndex(spec);
}
