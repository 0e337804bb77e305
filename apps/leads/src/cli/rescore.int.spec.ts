/**
 * The rescore CLI on the real stack: it boots only what rescoring needs (no credential table to wait for, no
 * controllers or consumers, no sweeps), rescores a workspace with its progress bar and prints its closing line.
 */
import { PassThrough } from 'node:stream';
import type { Connection } from 'mongoose';
import { CredentialTable } from '@tributary/access';
import { connectServiceStore } from '@tributary/store';
import { testServiceEnv, uniqueId } from '@tributary/testing';
import { contactModel, newContact, type ContactDoc } from '../contacts/contact.model';
import { ContactRepository } from '../contacts/contact.repository';
import { EnrichmentRetrier } from '../leads/enrichment-retrier';
import { LeadEventsHandler } from '../leads/lead-events.handler';
import { leadPipelineUseCases } from '../leads/lead-pipeline.providers';
import { ROUTING_OPTIONS, type RoutingOptions } from '../routing/lead-router.service';
import { createRescoreContext, rescoreConfig, runRescore } from './rescore-command';

const run = uniqueId('rsc');
const workspace = `ws_rsc_${run}`;
// Background jobs asked for on purpose: the CLI must not run them anyway.
const config = rescoreConfig(testServiceEnv('leads', run, { LEADS_BACKGROUND_JOBS: 'true' }));
let store: Connection;

beforeAll(async () => {
  store = await connectServiceStore(config.MONGO_URL, config.MONGO_DB);
});

afterAll(async () => {
  await store?.db?.dropDatabase();
  await store?.close();
});

function contact(id: string, title: string): ContactDoc {
  return newContact(`${workspace}:${id}`, workspace, new Date(), { lastRule: 'seed', attributes: { title } });
}

describe('rescore CLI', () => {
  it('boots the lead pipeline without the credential table, controllers, consumers or sweeps', async () => {
    const app = await createRescoreContext(config);
    try {
      // The whole pipeline, not only the scoring the CLI calls: a rescore may qualify, move and route a lead.
      for (const useCase of [...leadPipelineUseCases, ContactRepository])
        expect(app.get<unknown>(useCase)).toBeInstanceOf(useCase);
      expect(app.get<RoutingOptions>(ROUTING_OPTIONS)).toMatchObject({ sweep: false });
      // Not part of the graph at all (the credential table would read access.credentials before anything else).
      for (const absent of [CredentialTable, LeadEventsHandler, EnrichmentRetrier])
        expect(() => app.get(absent, { strict: false })).toThrow();
    } finally {
      await app.close();
    }
  });

  it('rescores every live contact of the workspace with a progress bar and a closing line', async () => {
    await contactModel(store).collection.insertMany([
      contact('vp', 'VP Marketing') as never,
      contact('intern', 'Intern') as never,
      { ...contact('merged', 'Director'), mergedInto: `${workspace}:vp` } as never,
    ]);
    const progress = new PassThrough();
    let drawn = '';
    progress.on('data', (chunk: Buffer) => (drawn += chunk.toString()));
    const lines: string[] = [];
    const summary = await runRescore({ workspace }, config, { progress, log: (line) => lines.push(line) });

    expect(summary).toEqual({ contacts: 2, changed: 1, modelVersion: 0 });
    expect(lines).toEqual([`rescored 2 contact(s) of ${workspace} with model v0: 1 changed`]);
    expect(drawn).toContain(`rescore ${workspace} (model v0) [`);
    expect(drawn).toContain('2/2 contacts');
    const vp = await contactModel(store).findById(`${workspace}:vp`).lean<ContactDoc>();
    expect(vp).toMatchObject({ score: 15, fitScore: 15 });
  });
});
