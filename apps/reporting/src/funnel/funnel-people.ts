import { Inject, Injectable } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION } from '@tributary/store';
import {
  FUNNEL_CONTACTS_COLLECTION,
  STORED_FUNNEL_PROJECTION,
  contactOfStored,
  type FunnelContactDoc,
  type StoredFunnelContact,
} from './funnel-contacts';
import { peopleOf, type FunnelPerson } from './funnel';

/** Documents fetched per round trip while streaming. */
const STREAM_BATCH = 2_000;

/** A workspace's funnel people (merged contacts folded into one), streamed, and which contacts were merged. */
@Injectable()
export class FunnelPeople {
  constructor(@Inject(STORE_CONNECTION) private readonly connection: Connection) {}

  /**
   * The workspace's people one at a time, in root order so that a merged person's contacts come together: an export
   * of a million holds one person's contacts at a time, not the million.
   */
  async *stream(workspaceId: string): AsyncGenerator<FunnelPerson> {
    const cursor = this.connection
      .collection<StoredFunnelContact>(FUNNEL_CONTACTS_COLLECTION)
      .find({ workspaceId }, { projection: STORED_FUNNEL_PROJECTION })
      .sort({ root: 1 })
      .batchSize(STREAM_BATCH)
      .map(contactOfStored);
    let person: FunnelContactDoc[] = [];
    for await (const doc of cursor) {
      if (person.length > 0 && person[0]?.root !== doc.root) {
        yield* peopleOf(person);
        person = [];
      }
      person.push(doc);
    }
    yield* peopleOf(person);
  }

  /** The workspace's merged contacts and the person (root) each counts as; every other contact is its own root. */
  async mergedRoots(workspaceId: string): Promise<Map<string, string>> {
    const roots = new Map<string, string>();
    const cursor = this.connection
      .collection<StoredFunnelContact>(FUNNEL_CONTACTS_COLLECTION)
      .find({ workspaceId }, { projection: { contactId: 1, root: 1 } })
      .batchSize(STREAM_BATCH);
    for await (const { contactId, root } of cursor) if (root !== contactId) roots.set(contactId, root);
    return roots;
  }
}
