import { Module, type DynamicModule } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { EventServiceModule, STORE_CONNECTION } from '@tributary/messaging';
import { StaticWorkspaceKeys, WORKSPACE_KEYS } from '@tributary/platform';
import type { ScoringConfig } from './config';
import { CONTACT_MODEL, contactModel } from './contacts/contact.model';
import { ContactsController } from './contacts/contacts.controller';
import { LeadScorer } from './contacts/lead-scorer.service';
import { TrackingEventsHandler } from './contacts/tracking-events.handler';
import { ContactMerger } from './identity/contact-merger.service';
import { IDENTITY_OPTIONS, IdentityResolver } from './identity/identity-resolver.service';
import type { IdentityOptions } from './identity/identity-rules';
import {
  CONTACT_MERGE_MODEL,
  IDENTITY_MODEL,
  contactMergeModel,
  identityModel,
} from './identity/identity.model';

/** Lead management: contacts and their scores (identity, enrichment, routing and lifecycle build on it). */
@Module({})
export class ScoringModule {
  static forRoot(config: ScoringConfig): DynamicModule {
    return {
      module: ScoringModule,
      imports: [EventServiceModule.forRoot(config)],
      controllers: [TrackingEventsHandler, ContactsController],
      providers: [
        LeadScorer,
        IdentityResolver,
        ContactMerger,
        {
          provide: IDENTITY_OPTIONS,
          useValue: { stripPlusAddressing: config.IDENTITY_STRIP_PLUS_ADDRESSING } satisfies IdentityOptions,
        },
        {
          provide: IDENTITY_MODEL,
          inject: [STORE_CONNECTION],
          useFactory: (c: Connection) => identityModel(c),
        },
        {
          provide: CONTACT_MERGE_MODEL,
          inject: [STORE_CONNECTION],
          useFactory: (c: Connection) => contactMergeModel(c),
        },
        {
          provide: CONTACT_MODEL,
          inject: [STORE_CONNECTION],
          useFactory: (c: Connection) => contactModel(c),
        },
        { provide: WORKSPACE_KEYS, useValue: new StaticWorkspaceKeys(config.WRITE_KEYS) },
      ],
    };
  }
}
