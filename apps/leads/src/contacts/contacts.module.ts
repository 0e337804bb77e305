import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { ContactStoreModule } from './contact-store.module';
import { ContactsController } from './contacts.controller';

type ModuleImport = DynamicModule | Type;

/** The contacts API: a contact as sales sees it (profile, score breakdown, stage, owner), by any of its ids. */
@Module({})
export class ContactsModule {
  /**
   * `identity` exports IdentityResolver and `routing` the LeadRouting port: the modules the app module picked, so
   * the API shares their one instance with the pipeline.
   */
  static forRoot(capabilities: { identity: ModuleImport; routing: ModuleImport }): DynamicModule {
    return {
      module: ContactsModule,
      imports: [ContactStoreModule, capabilities.identity, capabilities.routing],
      controllers: [ContactsController],
    };
  }
}
