import { Controller, Get, Inject, NotFoundException, Param, UseGuards } from '@nestjs/common';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { IdentityResolver } from '../identity/identity-resolver.service';
import { LEAD_ROUTING, type LeadRouting } from '../routing/lead-routing.port';
import type { ContactDoc } from './contact.model';
import { ContactRepository } from './contact.repository';
import { LeadsScopes } from '../scopes';

/** A contact as the API shows it: who they are, why they score what they score, who owns them, where they stand. */
export interface ContactView {
  contactId: string;
  workspaceId: string;
  identities: string[];
  attributes: ContactDoc['attributes'];
  score: number;
  fitScore: number;
  engagementScore: number;
  breakdown: ContactDoc['breakdown'];
  modelVersion: number;
  enrichment: ContactDoc['enrichment'];
  eventCount: number;
  /** The last event recorded (its name, else its call type). */
  lastRule: string;
  stage: ContactDoc['stage'];
  stageHistory: ContactDoc['stageHistory'];
  owner: Awaited<ReturnType<LeadRouting['assignmentOf']>>;
  sources: string[];
  createdAt: Date | undefined;
  updatedAt: Date;
}

/** Workspace-scoped read of a contact, by its contact id or any of its user or anonymous ids. */
@Controller('v1/contacts')
@UseGuards(WorkspaceKeyGuard)
export class ContactsController {
  constructor(
    private readonly contacts: ContactRepository,
    private readonly identities: IdentityResolver,
    @Inject(LEAD_ROUTING) private readonly routing: LeadRouting,
  ) {}

  @Get(':contactKey')
  @RequireScopes(LeadsScopes.contactsRead)
  async get(
    @CurrentWorkspace() workspaceId: string,
    @Param('contactKey') contactKey: string,
  ): Promise<ContactView> {
    const contact = await this.find(workspaceId, contactKey);
    return {
      contactId: contact._id,
      workspaceId: contact.workspaceId,
      identities: await this.identities.keysOf(workspaceId, contact._id),
      attributes: contact.attributes ?? {},
      score: contact.score,
      fitScore: contact.fitScore ?? 0,
      engagementScore: contact.engagementScore ?? 0,
      breakdown: contact.breakdown ?? [],
      modelVersion: contact.modelVersion ?? 0,
      enrichment: contact.enrichment ?? { state: 'none', sources: [], attempts: 0 },
      eventCount: contact.eventCount,
      lastRule: contact.lastRule,
      stage: contact.stage ?? null,
      stageHistory: contact.stageHistory ?? [],
      owner: await this.routing.assignmentOf(workspaceId, contact._id),
      sources: contact.sources ?? [],
      createdAt: contact.createdAt,
      updatedAt: contact.updatedAt,
    };
  }

  /**
   * A contact id (`<ws>:...`) or `email:<address>` is taken as is; anything else is a user or anonymous id. Merged
   * contacts answer with their survivor.
   */
  private async find(workspaceId: string, contactKey: string): Promise<ContactDoc> {
    const contactId = await this.identities.resolveContactKey(workspaceId, contactKey);
    const contact = contactId && (await this.contacts.readInWorkspace(workspaceId, contactId));
    if (!contact)
      throw new NotFoundException({ error: 'not_found', field: 'contactKey', reason: 'no such contact' });
    return contact;
  }
}
