/**
 * The contact repository on the real store: the one-event path keeps a contact's facts bounded like the batch path
 * does, and a redelivered fact is not recorded twice.
 */
import type { Connection } from 'mongoose';
import { connectServiceStore } from '@tributary/store';
import { testStackEndpoints, uniqueId } from '@tributary/testing';
import { identityModel } from '../identity/identity.model';
import { MAX_FACTS, contactModel, factsOf, type StoredFact } from './contact.model';
import { ContactRepository } from './contact.repository';

const run = uniqueId('cr');
let store: Connection;
let contacts: ContactRepository;

beforeAll(async () => {
  store = await connectServiceStore(testStackEndpoints().mongoUrl, `test_${run}_leads`);
  contacts = new ContactRepository(contactModel(store), identityModel(store));
});

afterAll(async () => {
  await store.dropDatabase();
  await store.close();
});

const fact = (i: number): StoredFact => ({
  eventId: `${run}-event-${i}`,
  callType: 'track',
  name: 'Feature Used',
  path: null,
  at: 1_000 + i,
});

describe('contact repository, one event at a time', () => {
  it(`keeps the newest ${MAX_FACTS} facts of a contact, in the store and in what it returns`, async () => {
    const contactId = `${run}:busy`;
    let last;
    for (let i = 0; i < MAX_FACTS + 5; i += 1)
      last = await contacts.record({ contactId, workspaceId: run, fact: fact(i) });

    const expected = Array.from({ length: MAX_FACTS }, (_, k) => `${run}-event-${k + 5}`);
    expect(last && factsOf(last).map((f) => f.eventId)).toEqual(expected);
    const stored = await contactModel(store).findById(contactId).lean();
    expect(stored && factsOf(stored).map((f) => f.eventId)).toEqual(expected);
    expect(stored?.factIds).toEqual(expected);
    expect(stored?.eventCount).toBe(MAX_FACTS + 5);
  });

  it('records a redelivered fact once', async () => {
    const contactId = `${run}:redelivered`;
    await contacts.record({ contactId, workspaceId: run, fact: fact(1) });
    await contacts.record({ contactId, workspaceId: run, fact: fact(2) });
    await contacts.record({ contactId, workspaceId: run, fact: fact(1) });

    const stored = await contactModel(store).findById(contactId).lean();
    expect(stored?.factIds).toEqual([`${run}-event-1`, `${run}-event-2`]);
    expect(stored?.eventCount).toBe(2);
  });
});
