import { Controller, Get, Inject, NotFoundException, Param, UseGuards } from '@nestjs/common';
import type { Model } from 'mongoose';
import { CurrentWorkspace, WorkspaceKeyGuard } from '@tributary/platform';
import { CONTACT_MODEL, type ContactDoc } from './contact.model';

/** Workspace-scoped read of a contact's score. */
@Controller('v1/contacts')
@UseGuards(WorkspaceKeyGuard)
export class ContactsController {
  constructor(@Inject(CONTACT_MODEL) private readonly contacts: Model<ContactDoc>) {}

  @Get(':contactKey')
  async get(
    @CurrentWorkspace() workspaceId: string,
    @Param('contactKey') contactKey: string,
  ): Promise<ContactDoc> {
    const contact = await this.contacts.findOne({ _id: `${workspaceId}:${contactKey}`, workspaceId }).lean();
    if (!contact)
      throw new NotFoundException({ error: 'not_found', field: 'contactKey', reason: 'no such contact' });
    return contact;
  }
}
