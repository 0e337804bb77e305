/**
 * Two lead service processes (real OS processes, one database, one consumer group, their own sweep timers racing
 * every 250 ms) through a missed accept SLA: every lead is breached once and reassigned once, to someone other than
 * the owner who missed it, however the two sweeps interleave.
 *
 * Only the service's public surfaces are used: env config, HTTP (`/v1/routing-rules`, `/v1/contacts`,
 * `/health/ready`), the topics, the consumer group as the broker describes it, and the processes' JSON logs.
 *
 * The first owners get an SLA of 12 s (the rules take fractions of a minute). Once every lead has its first owner
 * the rules are PUT again with an hour's SLA, so the reassignments' SLA lies far beyond the test: within it a lead
 * can miss its SLA once only, and any second breach or second reassignment is a duplicate.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AssignerProtocol, type Admin, type Kafka } from 'kafkajs';
import mongoose from 'mongoose';
import { Topics, type LeadAssigned, type LeadSlaBreached } from '@tributary/contracts';
import { AvroSchemaRegistry, EventPublisher, createKafka, originMetadata } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';
import {
  freePort,
  leadCapturedFixture,
  readAnswer,
  readTopicUntil,
  spawnService,
  stopService,
  testServiceEnv,
  uniqueId,
  waitFor,
  waitReady,
  type ReadRecord,
  type RunningProcess,
} from '@tributary/testing';

const run = uniqueId('sla');
const workspace = `ws_sla_${run}`;
const writeKey = `sla-key-${run}`;
const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
const LEADS = 12;
const MEMBERS = ['rep-1', 'rep-2', 'rep-3', 'rep-4'];
const SWEEP_INTERVAL_MS = 250;
/** The first owners' SLA: long enough for every lead to get its first owner and the rules to change before it. */
const FIRST_SLA_MINUTES = 0.2;
/** The reassignments' SLA (the rules PUT again once every lead has its first owner). */
const LATER_SLA_MINUTES = 60;
/** How long nothing may happen once every expected event is in: 12 sweeps of each process. */
const QUIET_MS = 3_000;

const env = testServiceEnv('leads', run, {
  WRITE_KEYS: `${writeKey}:${workspace}`,
  ROUTING_SWEEP_INTERVAL_MS: String(SWEEP_INTERVAL_MS),
  // Both processes route by the rules in the store the moment they change (the default caches them for 5 s).
  ROUTING_RULES_CACHE_TTL_MS: '0',
  LEADS_BACKGROUND_JOBS: 'true',
  // The sweeps' `routing-sweep` lines say how many breaches each process made.
  LOG_LEVEL: 'info',
});
const logRoot = join(tmpdir(), `tributary-${run}`);
const processes: RunningProcess[] = [];
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher | undefined;
let admin: Admin | undefined;
let health: HealthWatch | undefined;

beforeAll(async () => {
  const ports = [await freePort(), await freePort()];
  // Both at once: each compiles the service on start, and the machine has two cores.
  ports.forEach((port, i) =>
    processes.push(spawnService('leads', port, env, join(logRoot, `leads-${i + 1}`))),
  );
  // Settled, not all: a process that fails to start must not leave the other's wait polling until its deadline.
  const started = await Promise.allSettled(processes.map((service) => waitReady(service, 120_000)));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  kafka = createKafka(`sla-${run}`, env['KAFKA_BROKERS']?.split(',') ?? [], createLogger('sla', 'fatal'));
  registry = new AvroSchemaRegistry(env['SCHEMA_REGISTRY_URL'] ?? '');
  await registry.registerTopics([Topics.LeadsCaptured]);
  publisher = new EventPublisher(kafka, registry, 'sla');
  await publisher.connect();
  admin = kafka.admin();
  await admin.connect();
}, 180_000);

afterAll(async () => {
  await health?.stop();
  await publisher?.disconnect().catch(() => undefined);
  await admin?.disconnect().catch(() => undefined);
  await Promise.all(processes.map((service) => stopService(service)));
  const connection = await mongoose
    .createConnection(env['MONGO_URL'] ?? '', { dbName: env['MONGO_DB'] })
    .asPromise();
  try {
    await connection.dropDatabase();
  } finally {
    await connection.close();
  }
}, 60_000);

it('two processes sweeping at once breach and reassign each lead exactly once', async () => {
  expect(processes.length).toBe(2);
  const [a, b] = processes as [RunningProcess, RunningProcess];
  expect(await putRules(a, FIRST_SLA_MINUTES)).toBe(200);
  // Both processes in the group, each holding partitions of leads.captured, before anything is captured.
  await waitFor('both processes to hold partitions of leads.captured', async () => {
    const held = await capturedPartitionsHeld();
    return held.length === 2 && held.every((partitions) => partitions > 0);
  });
  health = watchHealth(processes);

  const assignedBefore = await topicEnds(Topics.LeadsAssigned);
  const breachedBefore = await topicEnds(Topics.LeadsSlaBreached);
  const capturedBefore = await topicEnds(Topics.LeadsCaptured);
  const captures = new Map<string, number>();
  await Promise.all(
    Array.from({ length: LEADS }, async (_, i) => {
      const email = `lead${i}@sla.example`;
      const captured = leadCapturedFixture({
        metadata: originMetadata({ workspaceId: workspace, source: 'sla' }),
        leadId: `${run}-${i}`,
        email,
        formId: 'contact-us',
      });
      captures.set(captured.metadata.eventId, i);
      await publisher?.publish({ topic: Topics.LeadsCaptured, key: email, event: captured });
    }),
  );

  // Every lead has its first owner; then the rules change so that the reassignments get an hour.
  const assignedReader = decoder<LeadAssigned>();
  await readTopicUntil(
    kafka,
    Topics.LeadsAssigned,
    async (records) =>
      new Set(
        (await assignedReader(records))
          .filter((e) => captures.has(e.metadata.causationId ?? ''))
          .map((e) => e.metadata.causationId),
      ).size >= LEADS,
    60_000,
  );
  expect(await putRules(b, LATER_SLA_MINUTES)).toBe(200);
  const rulesChangedAt = Date.now();

  // Let the SLA elapse without accepting: wait for a breach and a reassignment of every lead.
  const breachedReader = decoder<LeadSlaBreached>();
  await readTopicUntil(
    kafka,
    Topics.LeadsSlaBreached,
    async (records) => new Set((await breachedReader(records)).map((e) => e.contactId)).size >= LEADS,
    60_000,
  );
  await readTopicUntil(
    kafka,
    Topics.LeadsAssigned,
    async (records) =>
      new Set((await assignedReader(records)).filter((e) => e.reason !== 'routed').map((e) => e.contactId))
        .size >= LEADS,
    60_000,
  );

  // Read until quiet: the group done with every capture, a pause of many sweeps of both processes, then both topics
  // read to where they ended after it, so a late duplicate (a second sweep's breach, a republished outbox) is seen.
  await waitFor(
    'the group to commit every capture',
    async () => {
      const ends = await topicEnds(Topics.LeadsCaptured);
      const [committed] =
        (await admin?.fetchOffsets({
          groupId: env['CONSUMER_GROUP'] ?? '',
          topics: [Topics.LeadsCaptured],
        })) ?? [];
      const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
      // Every partition that grew since the captures were sent (the group starts at the end: it never commits
      // a partition it was given nothing on).
      return [...ends].every(
        ([partition, high]) => high === (capturedBefore.get(partition) ?? 0) || at.get(partition) === high,
      );
    },
    { timeoutMs: 30_000 },
  );
  await sleep(QUIET_MS);
  const assigned = await readToEnd(Topics.LeadsAssigned, assignedBefore, assignedReader);
  const breached = await readToEnd(Topics.LeadsSlaBreached, breachedBefore, breachedReader);
  const probes = await health.stop();
  const held = await capturedPartitionsHeld();

  // The first assignment of each capture: one per capture, to the team of four.
  const firsts = assigned.filter((e) => captures.has(e.metadata.causationId ?? ''));
  expect(firsts.length).toBe(LEADS);
  expect(new Set(firsts.map((e) => e.metadata.causationId)).size).toBe(LEADS);
  const contactIds = firsts.map((e) => e.contactId).sort();
  expect(new Set(contactIds).size).toBe(LEADS);
  const once = Object.fromEntries(contactIds.map((id) => [id, 1]));

  // Each lead breached exactly once, and given exactly two owners: the first and one reassignment.
  expect(countBy(breached.map((e) => e.contactId))).toEqual(once);
  expect(countBy(assigned.map((e) => e.contactId))).toEqual(
    Object.fromEntries(contactIds.map((id) => [id, 2])),
  );
  expect(countBy(assigned.filter((e) => e.reason === 'sla-reassigned').map((e) => e.contactId))).toEqual(
    once,
  );
  // No event announced twice (a second sweep's copy or a republish would carry the same id).
  const eventIds = [...assigned, ...breached].map((e) => e.metadata.eventId);
  expect(new Set(eventIds).size).toBe(eventIds.length);

  // Per lead: the breach names the owner who missed it, after the SLA; the reassignment goes to someone else, is
  // caused by that breach and is the owner the breach announced.
  const minute = 60_000;
  const observed = firsts.map((f) => {
    const breach = breached.find((e) => e.contactId === f.contactId);
    const next = assigned.find((e) => e.contactId === f.contactId && e !== f);
    return {
      contactId: f.contactId,
      first: {
        reason: f.reason,
        sla: f.acceptDueAt - f.assignedAt,
        dueAfterRulesChanged: f.acceptDueAt > rulesChangedAt,
      },
      breach: {
        ownerId: breach?.ownerId,
        acceptDueAt: breach?.acceptDueAt,
        causationId: breach?.metadata.causationId,
        late: (breach?.breachedAt ?? 0) >= f.acceptDueAt,
      },
      reassignment: {
        reason: next?.reason,
        previousOwnerId: next?.previousOwnerId,
        toSomeoneElse: next !== undefined && MEMBERS.includes(next.ownerId) && next.ownerId !== f.ownerId,
        announcedByBreach: next !== undefined && next.ownerId === breach?.reassignedTo,
        causationId: next?.metadata.causationId,
        sla: next ? next.acceptDueAt - next.assignedAt : undefined,
      },
    };
  });
  expect(observed).toEqual(
    firsts.map((f) => ({
      contactId: f.contactId,
      first: {
        reason: 'routed',
        sla: FIRST_SLA_MINUTES * minute,
        dueAfterRulesChanged: true,
      },
      breach: {
        ownerId: f.ownerId,
        acceptDueAt: f.acceptDueAt,
        causationId: f.metadata.eventId,
        late: true,
      },
      reassignment: {
        reason: 'sla-reassigned',
        previousOwnerId: f.ownerId,
        toSomeoneElse: true,
        announcedByBreach: true,
        causationId: breached.find((e) => e.contactId === f.contactId)?.metadata.eventId,
        sla: LATER_SLA_MINUTES * minute,
      },
    })),
  );

  // Both processes say so: each lead is on its second assignment, with the owner the topic announced.
  const expectedOwners = contactIds.map((contactId) => ({
    contactId,
    assignmentNumber: 2,
    state: 'assigned',
    ownerId: assigned.find((e) => e.contactId === contactId && e.reason === 'sla-reassigned')?.ownerId,
  }));
  for (const service of processes) expect(await ownersSeenBy(service, contactIds)).toEqual(expectedOwners);

  // Both processes were in the group holding partitions of leads.captured, and alive and ready throughout: every
  // readiness probe of each answered 200, from before the first breach until after the last, and neither exited.
  expect(held.map((partitions) => partitions > 0)).toEqual([true, true]);
  const breachTimes = breached.map((e) => e.breachedAt);
  expect(
    processes.map((service) => {
      const mine = probes.filter((p) => p.url === service.url);
      return {
        failed: mine.filter((p) => p.status !== 200),
        before: mine.some((p) => p.at < Math.min(...breachTimes)),
        after: mine.some((p) => p.at > Math.max(...breachTimes)),
        exitCode: service.child.exitCode,
      };
    }),
  ).toEqual(processes.map(() => ({ failed: [], before: true, after: true, exitCode: null })));

  // Each breach was made by exactly one of the two sweeping processes (their sweeps' own counts add up).
  const breachesBy = processes.map((service) => breachesLogged(service.logFile));
  expect(breachesBy.reduce((sum, n) => sum + n, 0)).toBe(LEADS);
  process.stdout.write(`breaches made by process 1 / process 2: ${breachesBy.join(' / ')}\n`);
}, 150_000);

/** PUTs the routing rules (one team of four, `minutes` to accept) through a process's API; answers the status. */
async function putRules(service: RunningProcess, minutes: number): Promise<number> {
  const res = await fetch(`${service.url}/v1/routing-rules`, {
    method: 'PUT',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      acceptWithinMinutes: minutes,
      teams: [
        {
          id: 'inbound',
          members: MEMBERS.map((ownerId) => ({ ownerId, capacity: 1000, timezone: 'UTC' })),
        },
      ],
      rules: [],
      fallbackTeamId: 'inbound',
    }),
  });
  return (await readAnswer(res)).status;
}

/** How many partitions of leads.captured each member of the processes' group holds, as the broker describes it. */
async function capturedPartitionsHeld(): Promise<number[]> {
  const [group] = (await admin?.describeGroups([env['CONSUMER_GROUP'] ?? '']))?.groups ?? [];
  return (group?.members ?? []).map(
    (member) =>
      AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment[Topics.LeadsCaptured]
        ?.length ?? 0,
  );
}

/** Where each partition of a topic ends now. */
async function topicEnds(topic: string): Promise<Map<number, number>> {
  return new Map(
    ((await admin?.fetchTopicOffsets(topic)) ?? []).map((end) => [end.partition, Number(end.high)]),
  );
}

type Decoder<T> = (records: readonly ReadRecord[]) => Promise<T[]>;

/** Decodes records (each once) and keeps this run's workspace's events. */
function decoder<T extends { metadata: { workspaceId: string } }>(): Decoder<T> {
  const decoded = new Map<string, T>();
  return async (records) => {
    for (const r of records) {
      const at = `${r.partition}:${r.offset}`;
      if (!decoded.has(at)) decoded.set(at, (await registry.decode(r.value)) as T);
    }
    return records
      .map((r) => decoded.get(`${r.partition}:${r.offset}`))
      .filter((e): e is T => e?.metadata.workspaceId === workspace);
  };
}

/** A topic read until every partition that grew since `before` is read to where it ends now; this run's events. */
async function readToEnd<T extends { metadata: { workspaceId: string } }>(
  topic: string,
  before: Map<number, number>,
  decode: Decoder<T>,
): Promise<T[]> {
  const ends = await topicEnds(topic);
  const records = await readTopicUntil(
    kafka,
    topic,
    (read) => {
      const last = new Map<number, number>();
      for (const r of read) last.set(r.partition, Math.max(last.get(r.partition) ?? -1, Number(r.offset)));
      return [...ends].every(
        ([partition, high]) =>
          high === (before.get(partition) ?? 0) || (last.get(partition) ?? -1) >= high - 1,
      );
    },
    60_000,
  );
  return decode(records);
}

/** Each lead's current assignment as a process's contacts API shows it. */
async function ownersSeenBy(
  service: RunningProcess,
  contactIds: readonly string[],
): Promise<{ contactId: string; assignmentNumber: unknown; state: unknown; ownerId: unknown }[]> {
  return Promise.all(
    contactIds.map(async (contactId) => {
      const res = await fetch(`${service.url}/v1/contacts/${encodeURIComponent(contactId)}`, {
        headers: { authorization: auth },
      });
      const owner = ((await readAnswer(res)).json as { owner?: Record<string, unknown> } | undefined)?.owner;
      return {
        contactId,
        assignmentNumber: owner?.['assignmentNumber'],
        state: owner?.['state'],
        ownerId: owner?.['ownerId'],
      };
    }),
  );
}

/** The breaches a process's sweeps reported in its JSON log (`routing-sweep` lines). */
function breachesLogged(logFile: string): number {
  let total = 0;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"routing-sweep"')) continue;
    const entry = JSON.parse(line) as { event?: string; breached?: number };
    total += entry.event === 'routing-sweep' ? (entry.breached ?? 0) : 0;
  }
  return total;
}

function countBy(keys: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const key of keys) counts[key] = (counts[key] ?? 0) + 1;
  return counts;
}

/** A free local TCP port (the service binds it right after). */

interface Probe {
  url: string;
  at: number;
  status: number;
}

interface HealthWatch {
  /** Stops probing (idempotent); answers every probe made. */
  stop(): Promise<Probe[]>;
}

/** Probes each process's `/health/ready` every 500 ms until stopped (status 0: no answer within 5 s). */
function watchHealth(services: readonly RunningProcess[]): HealthWatch {
  const probes: Probe[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await Promise.all(
        services.map(async ({ url }) => {
          const status = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(5_000) })
            .then(async (res) => (await readAnswer(res)).status)
            .catch(() => 0);
          probes.push({ url, at: Date.now(), status });
        }),
      );
      await sleep(500);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return probes;
    },
  };
}
