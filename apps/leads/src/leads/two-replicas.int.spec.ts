/**
 * Two lead service replicas in one consumer group, one database: every lead gets exactly one owner even when the same
 * capture reaches both replicas at once. Each capture is published twice under two keys that land on different
 * partitions, so the group hands the copies to different replicas that route the same lead concurrently.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Kafka } from 'kafkajs';
import { AssignerProtocol, Partitioners } from 'kafkajs';
import { Topics, type LeadAssigned } from '@tributary/contracts';
import { type AvroSchemaRegistry, type EventPublisher, originMetadata } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import {
  connectTestPublisher,
  leadCapturedFixture,
  readTopicUntil,
  testServiceEnv,
  uniqueId,
  waitFor,
  type ReadRecord,
} from '@tributary/testing';
import { LeadsModule } from '../app.module';
import { loadLeadsConfig } from '../config';

const run = uniqueId('rep');
const workspace = `ws_rep_${run}`;
const writeKey = `rep-key-${run}`;
const LEADS = 24;
const groupId = `leads.${run}`;
const replicas: RunningService[] = [];
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let publisher: EventPublisher;
let admin: Admin;

beforeAll(async () => {
  const env = testServiceEnv('leads', run, { WRITE_KEYS: `${writeKey}:${workspace}` });
  for (let i = 0; i < 2; i += 1) {
    const config = loadLeadsConfig(env);
    replicas.push(await startService(LeadsModule.forRoot(config), config));
  }
  const config = loadLeadsConfig(env);
  ({ kafka, registry, publisher } = await connectTestPublisher(`rep-${run}`, config, [Topics.LeadsCaptured]));
  admin = kafka.admin();
  await admin.connect();
  const res = await fetch(`${replicas[0]?.url}/v1/routing-rules`, {
    method: 'PUT',
    headers: {
      authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      acceptWithinMinutes: 60,
      teams: [
        {
          id: 'inbound',
          members: ['rep-1', 'rep-2', 'rep-3'].map((ownerId) => ({
            ownerId,
            capacity: 1000,
            timezone: 'UTC',
          })),
        },
      ],
      rules: [],
      fallbackTeamId: 'inbound',
    }),
  });
  expect(res.status).toBe(200);
}, 120_000);

afterAll(async () => {
  await publisher?.disconnect();
  await admin?.disconnect();
  for (const replica of replicas) await replica.close();
  await stopTelemetry();
});

/** Two keys of one lead that the default partitioner puts on different partitions of `leads.captured`. */
function keysOnTwoPartitions(base: string, partitions: number): [string, string] {
  const partitionOf = Partitioners.DefaultPartitioner();
  const meta = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));
  const at = (key: string) =>
    partitionOf({ topic: Topics.LeadsCaptured, partitionMetadata: meta, message: { key, value: null } });
  for (let i = 1; ; i += 1) if (at(`${base}#${i}`) !== at(base)) return [base, `${base}#${i}`];
}

it('two replicas in one group assign each lead exactly once', async () => {
  const causes = new Set<string>();
  const before = await topicEnds(Topics.LeadsAssigned);
  for (let i = 0; i < LEADS; i += 1) {
    const email = `lead${i}@replicas.example`;
    const captured = leadCapturedFixture({
      metadata: originMetadata({ workspaceId: workspace, source: 'rep' }),
      leadId: `${run}-${i}`,
      email,
      formId: 'contact-us',
    });
    causes.add(captured.metadata.eventId);
    const [a, b] = keysOnTwoPartitions(email, 6);
    await Promise.all([
      publisher.publish({ topic: Topics.LeadsCaptured, key: a, event: captured }),
      publisher.publish({ topic: Topics.LeadsCaptured, key: b, event: captured }),
    ]);
  }
  // Both replicas held partitions of leads.captured, so the copies really went to two processes.
  const [group] = (await admin.describeGroups([groupId])).groups;
  const held = (group?.members ?? []).map(
    (member) =>
      AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment[Topics.LeadsCaptured] ??
      [],
  );
  expect(held.map((partitions) => partitions.length > 0)).toEqual([true, true]);
  // Read until quiet: every lead assigned, the group done with every capture, a pause for announcements still
  // in flight (a batch announces off its path), then the topic read to its end, so a late duplicate is seen.
  await readTopicUntil(
    kafka,
    Topics.LeadsAssigned,
    async (records) => new Set((await ofWorkspace(records)).map((a) => a.contactId)).size >= LEADS,
    60_000,
  );
  await waitFor(
    'the group to commit every capture',
    async () => {
      const ends = await topicEnds(Topics.LeadsCaptured);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [Topics.LeadsCaptured] });
      const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
      return [...ends].every(([partition, high]) => high === 0 || at.get(partition) === high);
    },
    { timeoutMs: 60_000 },
  );
  await sleep(3_000);
  const ends = await topicEnds(Topics.LeadsAssigned);
  let assignments: LeadAssigned[] = [];
  await readTopicUntil(
    kafka,
    Topics.LeadsAssigned,
    async (records) => {
      assignments = await ofWorkspace(records);
      const last = new Map<number, number>();
      for (const r of records) last.set(r.partition, Math.max(last.get(r.partition) ?? -1, Number(r.offset)));
      // Every partition that grew since the captures were sent, read to where it ended once the group was done.
      return [...ends].every(
        ([partition, high]) =>
          high === (before.get(partition) ?? 0) || (last.get(partition) ?? -1) >= high - 1,
      );
    },
    60_000,
  );
  expectOnePerLead(assignments, causes);
});

/** Where each partition of a topic ends now. */
async function topicEnds(topic: string): Promise<Map<number, number>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map((end) => [end.partition, Number(end.high)]));
}

/** The assignments of this run's workspace among the records read. */
async function ofWorkspace(records: readonly ReadRecord[]): Promise<LeadAssigned[]> {
  const events = await Promise.all(
    records.map(async (r) => (await registry.decode(r.value)) as LeadAssigned),
  );
  return events.filter((e) => e.metadata.workspaceId === workspace);
}

function expectOnePerLead(assignments: LeadAssigned[], causes: Set<string>): void {
  const byLead = new Map<string, Set<string>>();
  for (const a of assignments) byLead.set(a.contactId, (byLead.get(a.contactId) ?? new Set()).add(a.ownerId));
  expect(byLead.size).toBe(LEADS);
  expect([...byLead.values()].filter((owners) => owners.size !== 1)).toEqual([]);
  // One announcement id per lead, however many deliveries produced it.
  expect(new Set(assignments.map((a) => a.metadata.eventId)).size).toBe(LEADS);
  expect([...causes].every((cause) => assignments.some((a) => a.metadata.causationId === cause))).toBe(true);
  // Round-robin over three reps: 8 each, since our FerretDB patch makes a conditional `$inc` on the cursor atomic.
  const perOwner = new Map<string, number>();
  for (const owners of byLead.values())
    for (const owner of owners) perOwner.set(owner, (perOwner.get(owner) ?? 0) + 1);
  expect(Object.fromEntries([...perOwner].sort())).toEqual({ 'rep-1': 8, 'rep-2': 8, 'rep-3': 8 });
}
