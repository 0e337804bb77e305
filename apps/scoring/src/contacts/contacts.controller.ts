import { Controller, Get, Inject, NotFoundException, Param, UseGuards } from '@nestjs/common';
import type { Model } from 'mongoose';
import { CurrentWorkspace, WorkspaceKeyGuard } from '@tributary/platform';
import { IdentityResolver } from '../identity/identity-resolver.service';
import { CONTACT_MODEL, type ContactDoc } from './contact.model';

/** Workspace-scoped read of a contact's score, by any of its user or anonymous ids. */
@Controller('v1/contacts')
@UseGuards(WorkspaceKeyGuard)
export class ContactsController {
  constructor(
    @Inject(CONTACT_MODEL) private readonly contacts: Model<ContactDoc>,
    private readonly identities: IdentityResolver,
  ) {}

  @Get(':contactKey')
  async get(
    @CurrentWorkspace() workspaceId: string,
    @Param('contactKey') contactKey: string,
  ): Promise<ContactDoc> {
    // Any id of a merged contact answers with the surviving contact.
    const contactId = await this.identities.resolveId(workspaceId, contactKey);
    const contact = await this.contacts.findOne({ _id: contactId, workspaceId }).lean();
    if (!contact)
      throw new NotFoundException({ error: 'not_found', field: 'contactKey', reason: 'no such contact' });
    return contact;
  }
}
