import { Module } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION } from '@tributary/store';
import { IDENTITY_MODEL, identityModel } from '../identity/identity.model';
import { CONTACT_MODEL, contactModel } from './contact.model';
import { ContactRepository } from './contact.repository';

/** The contact aggregate's store: contacts, the identity index mapping their ids, and ContactRepository over both. */
@Module({
  providers: [
    ContactRepository,
    { provide: CONTACT_MODEL, inject: [STORE_CONNECTION], useFactory: (c: Connection) => contactModel(c) },
    { provide: IDENTITY_MODEL, inject: [STORE_CONNECTION], useFactory: (c: Connection) => identityModel(c) },
  ],
  exports: [ContactRepository, CONTACT_MODEL, IDENTITY_MODEL],
})
export class ContactStoreModule {}
