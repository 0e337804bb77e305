import { Module, type DynamicModule, type InjectionToken, type ModuleMetadata } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION } from '@tributary/store';
import { ContactStoreModule } from '../contacts/contact-store.module';
import { ContactMerger, MERGED_CONTACT_HANDLERS, type MergedContactHandler } from './contact-merger.service';
import { IDENTITY_OPTIONS, IdentityResolver } from './identity-resolver.service';
import type { IdentityOptions } from './identity-rules';
import { CONTACT_MERGE_MODEL, contactMergeModel } from './identity.model';

/** Who follows a merge, bound by the app module (`registerAsync` style) so identity names none of them. */
export interface MergedContactHandlersBinding {
  /** Modules exporting what `inject` names. */
  imports: NonNullable<ModuleMetadata['imports']>;
  inject: InjectionToken[];
  useFactory: (...deps: never[]) => MergedContactHandler[];
}

export interface IdentityModuleOptions extends IdentityOptions {
  mergedContactHandlers: MergedContactHandlersBinding;
}

/** Identity resolution: finds the one contact an event is about and merges the contacts its links join. */
@Module({})
export class IdentityModule {
  static forRoot({ mergedContactHandlers: handlers, ...options }: IdentityModuleOptions): DynamicModule {
    return {
      module: IdentityModule,
      imports: [ContactStoreModule, ...handlers.imports],
      providers: [
        IdentityResolver,
        ContactMerger,
        {
          provide: IDENTITY_OPTIONS,
          useValue: { stripPlusAddressing: options.stripPlusAddressing } satisfies IdentityOptions,
        },
        { provide: MERGED_CONTACT_HANDLERS, inject: handlers.inject, useFactory: handlers.useFactory },
        {
          provide: CONTACT_MERGE_MODEL,
          inject: [STORE_CONNECTION],
          useFactory: (c: Connection) => contactMergeModel(c),
        },
      ],
      // The pipeline's batches read the options too (plus-addressing decides which contact an email is).
      exports: [IdentityResolver, IDENTITY_OPTIONS],
    };
  }
}
