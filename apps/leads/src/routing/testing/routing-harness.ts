/**
 * The routing int specs' shared harness: routers on their own connections to one fresh database (as replicas of the
 * lead service would be), built from the same providers as the service (`RoutingModule`), publishing through a real
 * EventPublisher; `leads.assigned` / `leads.sla-breached` / `leads.accepted` are read back from Kafka. Time is
 * passed to `sweep(now)` rather than waited for.
 */
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Kafka } from 'kafkajs';
import type { Connection } from 'mongoose';
import {
  Catalog,
  Topics,
  type EventMetadata,
  type LeadAccepted,
  type LeadAssigned,
  type LeadSlaBreached,
} from '@tributary/contracts';
import {
  AvroSchemaRegistry,
  EventPublisher,
  createKafka,
  ensureTopics,
  originMetadata,
  type OutgoingEvent,
} from '@tributary/messaging';
import { STORE_CONNECTION, connectServiceStore } from '@tributary/store';
import { createLogger, type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { SERVICE_CONFIG } from '@tributary/config';
import { readTopicUntil, testStackEndpoints, uniqueId } from '@tributary/testing';
import { AnnouncementOutbox } from '../announcement-outbox';
import { AssignmentStore } from '../assignment.store';
import { CapacityLedger } from '../capacity-ledger';
import { LeadRouter } from '../lead-router.service';
import { firstAssignment } from '../routing-decisions';
import { parseRoutingRules, type RoutingRules } from '../routing-rules';
import { RoutingRulesStore } from '../routing-rules.store';
import {
  dueEntriesOf,
  ownerLoadModel,
  routingAnnouncementModel,
  routingCursorModel,
  routingDueModel,
  routingHoldModel,
  routingRulesModel,
  type AssignmentDoc,
} from '../routing.model';
import { RoutingModule } from '../routing.module';
import type { Assignment, RoutingOptions, RoutingRequest } from '../routing.types';
import { SlaSweeper } from '../sla-sweeper';

const endpoints = testStackEndpoints();

/** One replica's routing, as the lead service wires it, and the pieces the specs drive directly. */
export interface Replica {
  router: LeadRouter;
  sweeper: SlaSweeper;
  ledger: CapacityLedger;
  outbox: AnnouncementOutbox;
  /** Its repository, for specs that store what a crashed replica left. */
  assignments: AssignmentStore;
  /** Closes its application context (stops the sweep, waits for deletes in flight); once. */
  close(): Promise<void>;
}

@Module({})
class ReplicaGlobals {}

@Module({})
class ReplicaRoot {}

/**
 * A replica's routing on `connection` through `RoutingModule`, EventServiceModule's globals stood in for. Rules are
 * read uncached (as a test writes them through a store of its own), and it does not sweep unless `options` say so.
 */
export async function createRouter(
  connection: Connection,
  publisher: EventPublisher,
  options: Partial<RoutingOptions> = {},
  logger: Logger = createLogger('rt', 'fatal'),
): Promise<Replica> {
  const globals: DynamicModule = {
    module: ReplicaGlobals,
    global: true,
    providers: [
      { provide: STORE_CONNECTION, useValue: connection },
      { provide: EventPublisher, useValue: publisher },
      { provide: SERVICE_LOGGER, useValue: logger },
      { provide: SERVICE_CONFIG, useValue: { ROUTING_RULES_CACHE_TTL_MS: 0 } },
    ],
    exports: [STORE_CONNECTION, EventPublisher, SERVICE_LOGGER, SERVICE_CONFIG],
  };
  const context = await NestFactory.createApplicationContext(
    {
      module: ReplicaRoot,
      imports: [globals, RoutingModule.headless({ sweepIntervalMs: 60_000, sweep: false, ...options })],
    },
    { logger: false },
  );
  let closing: Promise<void> | undefined;
  return {
    router: context.get(LeadRouter),
    sweeper: context.get(SlaSweeper),
    ledger: context.get(CapacityLedger),
    outbox: context.get(AnnouncementOutbox),
    assignments: context.get(AssignmentStore),
    close: () => (closing ??= context.close()),
  };
}

export function rules(input: unknown): RoutingRules {
  const parsed = parseRoutingRules(input);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.rules;
}

export const team = (ownerIds: string[], capacity = 100) => [
  { id: 'inbound', members: ownerIds.map((ownerId) => ({ ownerId, capacity, timezone: 'UTC' })) },
];

export async function setRules(store: Connection, workspaceId: string, input: unknown): Promise<void> {
  await new RoutingRulesStore(routingRulesModel(store)).put(workspaceId, rules(input));
}

/** Rules of one team, `inbound` (also the fallback), with a 60-minute SLA (or the one given) and no territory rules. */
export async function setTeam(
  store: Connection,
  workspaceId: string,
  ownerIds: string[],
  capacity?: number,
  acceptWithinMinutes = 60,
): Promise<void> {
  await setRules(store, workspaceId, {
    acceptWithinMinutes,
    teams: team(ownerIds, capacity),
    rules: [],
    fallbackTeamId: 'inbound',
  });
}

export const cause = (workspaceId: string): EventMetadata => originMetadata({ workspaceId, source: 'rt' });

/** `count` leads of a workspace to route (`<ws>:lead-<from + i>`, in Germany), each with a cause of its own. */
export const leadsOf = (ws: string, count: number, from = 0): RoutingRequest[] =>
  Array.from({ length: count }, (_, i) => ({
    workspaceId: ws,
    contactId: `${ws}:lead-${from + i}`,
    attributes: { country: 'DE' },
    cause: cause(ws),
  }));

export const ids = (inputs: readonly RoutingRequest[]) => inputs.map((input) => input.contactId);

export const ownersOf = (results: readonly (Assignment | null)[]) =>
  results.map((result) => result?.ownerId ?? null);

/** The leads (`<contactId>#1` holds) each owner got, as `holdsOf` lists them. */
export const leadsPerOwner = (contactIds: readonly string[], owners: readonly (string | null)[]) => {
  const byOwner: Record<string, string[]> = {};
  contactIds.forEach((contactId, i) => {
    const owner = owners[i];
    if (owner) byOwner[owner] = [...(byOwner[owner] ?? []), `${contactId}#1`].sort();
  });
  return byOwner;
};

/** Batch announcements still stored that carry an event of one of these leads. */
export const announcementsOf = async (store: Connection, contactIds: readonly string[]) =>
  (await routingAnnouncementModel(store).find().lean()).filter((doc) =>
    doc.leads.some((lead) => contactIds.includes(lead.contactId)),
  ).length;

/** An assignment document as a router (possibly a crashed one) left it: routing, no owner, lease run out. */
export function storedAssignment(
  workspaceId: string,
  contactId: string,
  overrides: Partial<AssignmentDoc> = {},
): AssignmentDoc {
  const past = new Date(Date.now() - 60_000);
  const claim = firstAssignment(
    { workspaceId, contactId, attributes: {}, cause: cause(workspaceId) },
    past,
    0,
  );
  return { ...claim, leaseToken: null, ...overrides };
}

/** Stores assignments as a router's writes leave them: each with its entries in the sweep's index. */
export async function storeAssignments(replica: Replica, docs: readonly AssignmentDoc[]): Promise<void> {
  const taken = await replica.assignments.insertAssignments(docs);
  if (taken.size > 0) throw new Error(`assignments stored already: ${[...taken].join(', ')}`);
  await replica.assignments.arm(docs.flatMap((doc) => dueEntriesOf(doc)));
}

/** The sweep's index entries of a workspace: kind (`t` wake-up, `q` queue), lead and time, in `_id` order. */
export async function dueOf(store: Connection, workspaceId: string): Promise<[string, string, number][]> {
  const entries = await routingDueModel(store).find({ workspaceId }).sort({ _id: 1 }).lean();
  return entries.map((entry) => {
    const [kind = '', at = ''] = entry._id.split('|');
    return [kind, entry.contactId, Number(at)];
  });
}

/** The assignments (`<contactId>#<n>`) holding capacity, per owner. */
export async function holdsOf(store: Connection, workspaceId: string): Promise<Record<string, string[]>> {
  const holds = await routingHoldModel(store).find({ workspaceId }).lean();
  const byOwner: Record<string, string[]> = {};
  for (const hold of holds) byOwner[hold.ownerId] = [...(byOwner[hold.ownerId] ?? []), hold._id].sort();
  return byOwner;
}

/** How many holds each owner has, from `holdsOf`. */
export const countsOf = (byOwner: Record<string, string[]>) =>
  Object.fromEntries(Object.entries(byOwner).map(([owner, leads]) => [owner, leads.length]));

/** Open leads per owner as the store counts them. */
export async function openLeads(store: Connection, workspaceId: string): Promise<Record<string, number>> {
  const docs = await ownerLoadModel(store).find({ workspaceId }).lean();
  return Object.fromEntries(docs.map((doc) => [doc.ownerId, doc.open]));
}

/** Round-robin positions a team's cursor has handed out (0: none yet). */
export async function cursorOf(store: Connection, workspaceId: string, teamId: string): Promise<number> {
  return (await routingCursorModel(store).findById(`${workspaceId}:${teamId}`).lean())?.seq ?? 0;
}

const ROUTING_TOPICS = [Topics.LeadsAssigned, Topics.LeadsSlaBreached, Topics.LeadsAccepted] as const;
type RoutingTopic = (typeof ROUTING_TOPICS)[number];
type RoutingEvent<T extends RoutingTopic> = T extends typeof Topics.LeadsAssigned
  ? LeadAssigned
  : T extends typeof Topics.LeadsSlaBreached
    ? LeadSlaBreached
    : LeadAccepted;

/** A record of workspace `markerId` keyed by `contactId`: once it is read, so is all that was published before it. */
function marker(topic: RoutingTopic, contactId: string, markerId: string): OutgoingEvent {
  const metadata = originMetadata({ workspaceId: markerId, source: 'rt' });
  const at = Date.now();
  const common = { metadata, contactId, ownerId: '-', teamId: '-', assignedAt: at };
  switch (topic) {
    case Topics.LeadsAssigned: {
      const event: LeadAssigned = {
        ...common,
        ruleId: '-',
        reason: 'marker',
        previousOwnerId: null,
        acceptDueAt: at,
      };
      return { topic, key: contactId, event };
    }
    case Topics.LeadsSlaBreached: {
      const event: LeadSlaBreached = { ...common, acceptDueAt: at, breachedAt: at, reassignedTo: null };
      return { topic, key: contactId, event };
    }
    case Topics.LeadsAccepted: {
      const event: LeadAccepted = { ...common, acceptedAt: at };
      return { topic, key: contactId, event };
    }
  }
}

/**
 * A spec's routing stack: Kafka topics, registry and publisher set up before its tests; every replica it made
 * closed, and every database it made dropped, after them. `prefix` names the spec's run (`ws_<run>_<label>`).
 */
export function routingStack(prefix: string) {
  const run = uniqueId(prefix);
  const quiet = createLogger(prefix, 'fatal');
  let kafka: Kafka | undefined;
  let registry: AvroSchemaRegistry | undefined;
  let publisher: EventPublisher | undefined;
  const opened: Connection[] = [];
  const made: Replica[] = [];

  beforeAll(async () => {
    kafka = createKafka(`${prefix}-${run}`, endpoints.kafkaBrokers, quiet);
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(
      admin,
      ROUTING_TOPICS.map((topic) => Catalog[topic]),
      1,
    );
    await admin.disconnect();
    registry = new AvroSchemaRegistry(endpoints.registryUrl);
    await registry.registerTopics(ROUTING_TOPICS);
    publisher = new EventPublisher(kafka, registry, prefix);
    await publisher.connect();
  }, 60_000);

  afterAll(async () => {
    for (const replica of made) await replica.close();
    for (const connection of opened) {
      await connection.db?.dropDatabase();
      await connection.close();
    }
    await publisher?.disconnect();
  });

  const connected = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the routing stack is not set up (beforeAll)');
    return value;
  };

  /** A replica on `connection` (see `createRouter`), closed after the spec. */
  async function replicaOn(
    connection: Connection,
    options: Partial<RoutingOptions> = {},
    logger?: Logger,
  ): Promise<Replica> {
    const replica = await createRouter(connection, connected(publisher), options, logger ?? quiet);
    made.push(replica);
    return replica;
  }

  /** `count` replicas, each on its own connection to one fresh database, and the test's workspace. */
  async function replicas(
    label: string,
    count: number,
  ): Promise<{ all: Replica[]; store: Connection; ws: string }> {
    const db = `test_${run}_${label}_leads`;
    const all: Replica[] = [];
    let store: Connection | undefined;
    for (let i = 0; i < count; i += 1) {
      const connection = await connectServiceStore(endpoints.mongoUrl, db);
      opened.push(connection);
      store ??= connection;
      all.push(await replicaOn(connection));
    }
    if (!store) throw new Error('no replicas');
    return { all, store, ws: `ws_${run}_${label.replaceAll('-', '_')}` };
  }

  /** Two replicas on one store, and the test's workspace (`ws_<run>_<label>`). */
  async function twoReplicas(
    label: string,
  ): Promise<{ a: Replica; b: Replica; store: Connection; ws: string }> {
    const { all, store, ws } = await replicas(label, 2);
    const [a, b] = all;
    if (!a || !b) throw new Error('two replicas expected');
    return { a, b, store, ws };
  }

  /** One replica (its pieces spread), its store and the test's workspace (`ws_<run>_<label>`). */
  async function oneReplica(
    label: string,
  ): Promise<Replica & { replica: Replica; store: Connection; ws: string }> {
    const { all, store, ws } = await replicas(label, 1);
    const [replica] = all;
    if (!replica) throw new Error('one replica expected');
    return { ...replica, replica, store, ws };
  }

  /**
   * Every event the routers published so far about one lead: a marker with the same key goes to the same partition
   * after them, so once the marker is read nothing published before it is missing.
   */
  async function published<T extends RoutingTopic>(
    topic: T,
    workspaceId: string,
    contactId: string,
  ): Promise<RoutingEvent<T>[]> {
    return (await publishedAbout(topic, workspaceId, [contactId])).get(contactId) ?? [];
  }

  /** `published` for several leads at once (one marker per lead, one read of the topic). */
  async function publishedAbout<T extends RoutingTopic>(
    topic: T,
    workspaceId: string,
    contactIds: readonly string[],
  ): Promise<Map<string, RoutingEvent<T>[]>> {
    const out = connected(publisher);
    const markerId = uniqueId('marker');
    await out.publishAll(contactIds.map((contactId) => marker(topic, contactId, markerId)));
    const seen = new Map(contactIds.map((contactId) => [contactId, [] as RoutingEvent<T>[]]));
    const marked = new Set<string>();
    let decoded = 0;
    const schemas = connected(registry);
    await readTopicUntil(connected(kafka), topic, async (records) => {
      for (; decoded < records.length; decoded += 1) {
        const value = (await schemas.decode(records[decoded]?.value ?? null)) as RoutingEvent<T>;
        if (value.metadata.workspaceId === markerId) marked.add(value.contactId);
        else if (value.metadata.workspaceId === workspaceId) seen.get(value.contactId)?.push(value);
      }
      return marked.size === seen.size;
    });
    return seen;
  }

  return { run, endpoints, replicaOn, twoReplicas, oneReplica, published, publishedAbout };
}
