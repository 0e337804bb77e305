import { Inject, Injectable } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION } from '@tributary/store';
import { FUNNEL_CONTACTS_COLLECTION, type FunnelContactDoc } from './funnel-contacts';
import { peopleOf, type FunnelPerson } from './funnel';

/** A workspace's funnel contacts as stored, and as people (merged contacts folded into one). */
@Injectable()
export class FunnelPeople {
  constructor(@Inject(STORE_CONNECTION) private readonly connection: Connection) {}

  async contacts(workspaceId: string): Promise<FunnelContactDoc[]> {
    return this.connection
      .collection<FunnelContactDoc>(FUNNEL_CONTACTS_COLLECTION)
      .find(
        { workspaceId },
        { projection: { contactId: 1, root: 1, reached: 1, stage: 1, stageAt: 1, firstTouch: 1, owner: 1 } },
      )
      .toArray();
  }

  async people(workspaceId: string): Promise<FunnelPerson[]> {
    return peopleOf(await this.contacts(workspaceId));
  }
}
