/**
 * `npm run bench:sync [-- --contacts 100000 --same 25000 --kills 20 --edits 1000 --dev]`
 * Sync against HubSpot and Mailchimp fakes (in this process, with HubSpot's real limits: 4 searches a second, 100
 * requests per 10 s), the sync service as its own process (production build unless --dev), the real stack:
 * 1. backfill: `--contacts` HubSpot contacts, `--same` of them sharing one modification time, read by change capture
 *    into records.changed; every version read back from the topic (missed, duplicated), the search budget used
 *    (searches made / searches HubSpot allows over the backfill) and HubSpot's 429s;
 * 2. kills: the same backfill for another workspace with the sync process SIGKILLed at random points `--kills` times
 *    and restarted: missed must stay 0, and a kill may repeat at most the page in flight;
 * 3. golden records: how long after the killed backfill the golden intake holds every contact of both backfills
 *    (changes are timed only once it has caught up);
 * 4. changes by polling: `--edits` contacts also in Mailchimp are edited in HubSpot, 50 a second; the time from each
 *    edit to Mailchimp holding it (polled every 50 ms), the writes Mailchimp took, and the writes that came back to
 *    HubSpot (echoes); the connection polls every second;
 * 5. changes by webhooks: the same with another workspace whose HubSpot connection polls once a day, the edits
 *    reaching it as HubSpot's signed webhooks through the ingestion service (its own process too).
 * Prints numbers; asserts nothing. Ends with
 * `RESULT sync backfill_records=<n> backfill_per_s=<n> budget_used_pct=<n> http_429=<n> change_p99_ms=<ms> missed=<n>
 * duplicated=<n> echoes=<n> webhook_p99_ms=<ms> golden_catch_up_s=<s>` (missed and duplicated over both backfills,
 * duplicated beyond one page a kill; change_p99_ms by polling every second; echoes over both change phases).
 */
import { join } from 'node:path';
import { Command } from 'commander';
import type { Kafka } from 'kafkajs';
import mongoose from 'mongoose';
import { Topics, type GoldenRecordChanged, type RecordChanged } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import { FakeHubSpot, FakeMailchimp } from '@tributary/sandbox';
import { spawnService, stopService, uniqueId, waitReady, type RunningProcess } from '@tributary/testing';
import { stackEndpoints, stackUp } from '../stack/stack';
import {
  DEV_FLAG,
  DEV_FLAG_HELP,
  assertPortsFree,
  benchMode,
  ensureBuilt,
  productionEnv,
} from './production';
import { latencySummary, resultLine } from './stats';

const opts = new Command('bench:sync')
  .option('--contacts <n>', 'HubSpot contacts each backfill reads', (v) => Number(v), 100_000)
  .option('--same <n>', 'of them sharing one modification time', (v) => Number(v), 25_000)
  .option('--kills <n>', 'SIGKILLs during the second backfill', (v) => Number(v), 20)
  .option('--edits <n>', 'HubSpot edits timed to Mailchimp', (v) => Number(v), 1_000)
  .option('--port <n>', 'the sync service', (v) => Number(v), 3_503)
  .option(DEV_FLAG, DEV_FLAG_HELP)
  .parse()
  .opts<{ contacts: number; same: number; kills: number; edits: number; port: number; dev?: boolean }>();
const mode = benchMode(opts.dev);
const PAGE = 200;
const MAILCHIMP_KEY = `${'0b'.repeat(16)}-us21`;

const run = uniqueId('bs');
const TOKEN = `pat-na1-${run}`;
const workspaces = {
  backfill: `ws_${run}_backfill`,
  kills: `ws_${run}_kills`,
  changes: `ws_${run}_changes`,
  hooks: `ws_${run}_hooks`,
};
const WEBHOOK_SECRET = `hubspot-app-secret-${run}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const writeKey = `bench-key-${run}`;

/**
 * Every record change of the run's workspaces, as `externalId@changedAt` per workspace, and the golden records their
 * changes announced, read as they come.
 */
async function watchChanges(
  kafka: Kafka,
  registry: AvroSchemaRegistry,
): Promise<{
  versions: Map<string, string[]>;
  golden: Map<string, Set<string>>;
  stop: () => Promise<void>;
}> {
  const versions = new Map<string, string[]>(Object.values(workspaces).map((ws) => [ws, []]));
  const golden = new Map<string, Set<string>>(Object.values(workspaces).map((ws) => [ws, new Set()]));
  const consumer = kafka.consumer({ groupId: `bench-sync-${run}` });
  await consumer.connect();
  await consumer.subscribe({
    topics: [Topics.RecordsChanged, Topics.GoldenRecordsChanged],
    fromBeginning: false,
  });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      if (topic === Topics.GoldenRecordsChanged) {
        const change = (await registry.decode(message.value)) as GoldenRecordChanged;
        golden.get(change.metadata.workspaceId)?.add(change.goldenId);
        return;
      }
      const change = (await registry.decode(message.value)) as RecordChanged;
      versions.get(change.metadata.workspaceId)?.push(`${change.externalId}@${change.changedAt}`);
    },
  });
  // A new group starts at the end: wait until it has its partitions before anything is published.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  return { versions, golden, stop: () => consumer.disconnect() };
}

async function main(): Promise<void> {
  await stackUp();
  const endpoints = stackEndpoints();
  if (mode === 'production') ensureBuilt(['sync']);
  if (mode === 'production') ensureBuilt(['ingestion']);
  const ingestionPort = opts.port + 1;
  await assertPortsFree([opts.port, ingestionPort]);
  const hubspot = new FakeHubSpot({
    accessTokens: { [TOKEN]: 'app-bench' },
    // HubSpot's app webhooks to the ingestion service, switched on for phase 5 only.
    webhooks: {
      targetUrl: `http://127.0.0.1:${ingestionPort}/v1/webhooks/hubspot/${workspaces.hooks}`,
      clientSecret: WEBHOOK_SECRET,
      subscriptions: ['contact.propertyChange'],
    },
  });
  if (hubspot.webhooks) hubspot.webhooks.enabled = false;
  const mailchimp = new FakeMailchimp({ apiKeys: [MAILCHIMP_KEY] });
  const env = {
    ...endpoints.env,
    MONGO_DB: `bench_${run}_sync`,
    CONSUMER_GROUP: `sync.${run}`,
    CONSUMER_FROM_BEGINNING: 'false',
    WRITE_KEYS: Object.values(workspaces)
      .map((ws) => `${writeKey}-${ws}:${ws}`)
      .join(','),
    HUBSPOT_API_URL: await hubspot.start(),
    MAILCHIMP_API_URL: await mailchimp.start(),
    SYNC_POLL_TICK_MS: '100',
    // A killed process's poll is taken over 2 s after its last page.
    SYNC_POLL_LEASE_MS: '2000',
    LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
    STORE_SLOW_COMMAND_MS: process.env['BENCH_SLOW_COMMAND_MS'] ?? '0',
    ...productionEnv(mode),
  };
  let starts = 0;
  const startSync = async (): Promise<RunningProcess> => {
    starts += 1;
    const logs = join(__dirname, '..', '..', '.stack', 'logs', `bench-${run}`, `sync-${starts}`);
    const nodeArgs = process.env['BENCH_SYNC_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
    const started = spawnService('sync', opts.port, env, logs, { mode, nodeArgs });
    await waitReady(started, 120_000);
    return started;
  };
  const kafka = createKafka(
    `bench-sync-${run}`,
    endpoints.kafkaBrokers.split(','),
    createLogger('bench', 'fatal'),
  );
  const registry = new AvroSchemaRegistry(endpoints.schemaRegistryUrl);
  const store = await mongoose.createConnection(endpoints.mongoUrl, { dbName: env.MONGO_DB }).asPromise();
  const cursors = store.collection<{
    _id: string;
    published: number;
    lastSuccessAt: Date | null;
    lastPublished: number;
  }>('sync_change_cursors');
  let sync = await startSync();
  const ingestion = spawnService(
    'ingestion',
    ingestionPort,
    {
      ...env,
      MONGO_DB: `bench_${run}_ingestion`,
      CONSUMER_GROUP: `ingestion.${run}`,
      WEBHOOK_SECRETS: `${workspaces.hooks}:hubspot:${WEBHOOK_SECRET}`,
    },
    join(__dirname, '..', '..', '.stack', 'logs', `bench-${run}`, 'ingestion'),
    { mode },
  );
  await waitReady(ingestion, 120_000);
  const watcher = await watchChanges(kafka, registry);
  const api = (ws: string, path: string, body?: unknown) =>
    fetch(`${sync.url}${path}`, {
      method: body === undefined ? 'DELETE' : 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${writeKey}-${ws}:`).toString('base64')}`,
        'content-type': 'application/json',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const connect = async (
    ws: string,
    connector: 'hubspot' | 'mailchimp',
    pollIntervalSeconds = 1,
  ): Promise<string> => {
    const res = await api(ws, '/v1/connections', {
      connector,
      name: connector,
      objects: [connector === 'hubspot' ? 'contacts' : 'members'],
      credentials:
        connector === 'hubspot' ? { accessToken: TOKEN } : { apiKey: MAILCHIMP_KEY, listId: 'demo' },
      pollIntervalSeconds,
      lookbackSeconds: 5,
    });
    if (res.status !== 201) throw new Error(`connecting ${connector}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  };
  /** Waits for the connection's cursor to finish a poll that found nothing new after `since`. */
  const caughtUp = async (
    connectionId: string,
    since: number,
    onProgress?: (published: number) => Promise<void>,
  ) => {
    for (;;) {
      const cursor = await cursors.findOne({ _id: `${connectionId}|contacts` });
      if (onProgress) await onProgress(cursor?.published ?? 0);
      if (cursor?.lastSuccessAt && cursor.lastSuccessAt.getTime() > since && cursor.lastPublished === 0)
        return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const searches = () =>
    hubspot.requests.filter((r) => r.pathname.endsWith('/search') && r.status === 200).length;
  const refusals = () => hubspot.requests.filter((r) => r.status === 429).length;

  try {
    // Phase 1: the backfill, `--same` contacts sharing one modification time after the others.
    const base = Date.now() - 86_400_000;
    const spread = opts.contacts - opts.same;
    for (let i = 0; i < spread; i += 1000)
      hubspot.seed(
        'contacts',
        Array.from({ length: Math.min(1000, spread - i) }, (_, j) => ({ firstname: `spread-${i + j}` })),
        base + i,
      );
    hubspot.seed(
      'contacts',
      Array.from({ length: opts.same }, (_, i) => ({ firstname: `same-${i}` })),
      base + spread + 60_000,
    );
    const expected = new Set(hubspot.all('contacts').map((r) => `${r.id}@${r.updatedAt}`));
    const searchesBefore = searches();
    const started = Date.now();
    const backfill = await connect(workspaces.backfill, 'hubspot');
    await caughtUp(backfill, started);
    const backfillS = (Date.now() - started) / 1000;
    const budgetUsedPct = (100 * (searches() - searchesBefore)) / (backfillS * 4);
    await api(workspaces.backfill, `/v1/connections/${backfill}`);
    console.log(
      `backfill: ${expected.size} contacts in ${backfillS.toFixed(1)} s (${(expected.size / backfillS).toFixed(0)}/s), ` +
        `${searches() - searchesBefore} searches (${budgetUsedPct.toFixed(1)}% of HubSpot's 4/s), ${refusals()} 429s`,
    );

    // Phase 2: the same backfill, killed `--kills` times at random points.
    const killsStarted = Date.now();
    const killed = await connect(workspaces.kills, 'hubspot');
    const marks = Array.from({ length: opts.kills }, () => Math.floor(Math.random() * opts.contacts)).sort(
      (a, b) => a - b,
    );
    let kills = 0;
    await caughtUp(killed, killsStarted, async (published) => {
      while (kills < marks.length && published >= (marks[kills] ?? Infinity)) {
        sync.child.kill('SIGKILL');
        await new Promise((resolve) => sync.child.once('exit', resolve));
        kills += 1;
        sync = await startSync();
      }
    });
    await api(workspaces.kills, `/v1/connections/${killed}`);
    console.log(`kills: ${kills} SIGKILLs during a backfill of ${expected.size}`);

    // Phase 3: the golden intake catches up with both backfills before any change is timed.
    // Read off golden.records.changed: counting the store's records would load the store being measured.
    const goldenOf = (ws: string) => watcher.golden.get(ws)?.size ?? 0;
    while (goldenOf(workspaces.backfill) + goldenOf(workspaces.kills) < 2 * expected.size) await sleep(1_000);
    const goldenCatchUpS = (Date.now() - killsStarted) / 1000;
    console.log(
      `golden records: both backfills' ${2 * expected.size} held ${goldenCatchUpS.toFixed(1)} s after the killed one started`,
    );

    const writesTo = () => ({
      mailchimp: mailchimp.requests.filter((r) => r.method === 'PATCH' && r.status === 200).length,
      hubspot: hubspot.requests.filter(
        (r) => r.method !== 'GET' && /\/batch\/(create|update)$/.test(r.pathname) && r.status < 300,
      ).length,
    });
    /**
     * `--edits` new HubSpot contacts reach Mailchimp through `ws`'s connections (HubSpot's polling every
     * `pollIntervalSeconds`), then each is edited, 50 a second: the time from each edit to Mailchimp holding it.
     */
    const timedEdits = async (path: string, ws: string, pollIntervalSeconds: number) => {
      const people = Array.from({ length: opts.edits }, (_, i) => `${path}-${i}-${run}@example.com`);
      const ids = hubspot.seed(
        'contacts',
        people.map((email, i) => ({ email, firstname: `Person ${i}` })),
        Date.now() - 10_000,
      );
      const connections = [await connect(ws, 'hubspot', pollIntervalSeconds), await connect(ws, 'mailchimp')];
      while (!people.every((email) => mailchimp.member('demo', email))) await sleep(500);
      await sleep(5_000);
      if (hubspot.webhooks) hubspot.webhooks.enabled = path === 'webhook';
      const before = writesTo();
      const editedAt = new Map<number, number>();
      const latencies: number[] = [];
      const pending = new Set(people.keys());
      const watch = setInterval(() => {
        for (const i of pending) {
          const at = editedAt.get(i);
          if (
            at !== undefined &&
            mailchimp.member('demo', people[i] ?? '')?.merge_fields['LNAME'] === `${path}-edit-${i}`
          ) {
            latencies.push(Date.now() - at);
            pending.delete(i);
          }
        }
      }, 50);
      for (const [i, id] of ids.entries()) {
        editedAt.set(i, Date.now());
        hubspot.edit('contacts', id, { lastname: `${path}-edit-${i}` });
        if (i % 50 === 49) await sleep(1_000);
      }
      const deadline = Date.now() + 120_000;
      while (pending.size > 0 && Date.now() < deadline) await sleep(200);
      await sleep(10_000);
      clearInterval(watch);
      if (hubspot.webhooks) hubspot.webhooks.enabled = false;
      for (const connection of connections) await api(ws, `/v1/connections/${connection}`);
      const after = writesTo();
      const summary = latencySummary(latencies);
      console.log(
        `changes by ${path}: ${latencies.length}/${opts.edits} edits reached Mailchimp, p50 ${summary.p50} ms, ` +
          `p99 ${summary.p99} ms, max ${summary.max} ms; Mailchimp took ${after.mailchimp - before.mailchimp} ` +
          `writes, HubSpot ${after.hubspot - before.hubspot} back`,
      );
      return {
        p99: latencies.length === opts.edits ? summary.p99 : ('incomplete' as const),
        missed: pending.size,
        echoes: after.hubspot - before.hubspot,
      };
    };

    // Phases 4 and 5: the portal starts over, so the change phases do not backfill the 100,000 again.
    const refusedBefore = refusals();
    const refusedWhere = new Map<string, number>();
    for (const r of hubspot.requests.filter((q) => q.status === 429))
      refusedWhere.set(r.pathname, (refusedWhere.get(r.pathname) ?? 0) + 1);
    console.log(`429s by path: ${JSON.stringify(Object.fromEntries(refusedWhere))}`);
    hubspot.reset();
    const polled = await timedEdits('poll', workspaces.changes, 1);
    const hooked = await timedEdits('webhook', workspaces.hooks, 86_400);
    for (const r of hubspot.requests.filter((q) => q.status === 429))
      console.log(
        `429 during the change phases: ${r.method} ${r.pathname} at ${new Date(r.at).toISOString()}`,
      );

    const versionsOf = (ws: string) => watcher.versions.get(ws) ?? [];
    const tally = (ws: string, allowedRepeats: number) => {
      const seen = versionsOf(ws);
      const distinct = new Set(seen);
      const missed = [...expected].filter((v) => !distinct.has(v)).length;
      return {
        missed,
        duplicated: Math.max(0, seen.length - distinct.size - allowedRepeats),
        repeats: seen.length - distinct.size,
      };
    };
    const first = tally(workspaces.backfill, 0);
    const second = tally(workspaces.kills, kills * PAGE);
    console.log(
      `backfill: missed ${first.missed}, repeated ${first.repeats}; killed backfill: missed ${second.missed}, ` +
        `repeated ${second.repeats} (${kills} kills may repeat ${kills * PAGE})`,
    );
    console.log(
      resultLine('sync', {
        backfill_records: expected.size,
        backfill_per_s: Math.round(expected.size / backfillS),
        budget_used_pct: Number(budgetUsedPct.toFixed(1)),
        http_429: refusedBefore + refusals(),
        change_p99_ms: polled.p99,
        missed: first.missed + second.missed + polled.missed + hooked.missed,
        duplicated: first.duplicated + second.duplicated,
        echoes: polled.echoes + hooked.echoes,
        webhook_p99_ms: hooked.p99,
        golden_catch_up_s: Number(goldenCatchUpS.toFixed(1)),
      }),
    );
  } finally {
    await watcher.stop();
    await stopService(sync);
    await stopService(ingestion);
    await hubspot.stop();
    await mailchimp.stop();
    await store.dropDatabase();
    await store.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
