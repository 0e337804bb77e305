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

/** A workspace's funnel people (merged contacts folded into one), streamed. */
@Injectable()
export class FunnelPeople {
  constructor(@Inject(STORE_CONNECTION) private readonly connection: Connection) {}

  /**
   * The workspace's people one at a time, in root order so that a merged person's contacts come together: an export
   * of a million holds one person's contacts at a time, not the million. `merged`, when given, is filled on the way
   * with each merged contact's root (every other contact is its own), for a caller that needs both in one read.
   */
  async *stream(workspaceId: string, merged?: Map<string, string>): AsyncGenerator<FunnelPerson> {
    const cursor = this.connection
      .collection<StoredFunnelContact>(FUNNEL_CONTACTS_COLLECTION)
      .find({ workspaceId }, { projection: STORED_FUNNEL_PROJECTION })
      .sort({ root: 1 })
      .batchSize(STREAM_BATCH)
      .map(contactOfStored);
    let person: FunnelContactDoc[] = [];
    for await (const doc of cursor) {
      if (merged && doc.root !== doc.contactId) merged.set(doc.contactId, doc.root);
      if (person.length > 0 && person[0]?.root !== doc.root) {
        yield* peopleOf(person);
        person = [];
      }
      person.push(doc);
    }
    yield* peopleOf(person);
  }
}
