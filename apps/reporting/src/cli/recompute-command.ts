import { isDeepStrictEqual } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import { Kafka, logLevel } from 'kafkajs';
import mongoose from 'mongoose';
import { commitGroupOffsets } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { ReportingModule } from '../app.module';
import { loadReportingConfig, type ReportingConfig } from '../config';
import { reportingTopics } from '../intake/reporting-topics';
import { ReportIntake } from '../intake/report-intake.service';
import { TALLIES_COLLECTION } from '../read-models/bucketed-counts';
import {
  BOOKKEEPING_FIELDS,
  PROCESSING_TIME_MODELS,
  READ_MODEL_COLLECTIONS,
} from '../read-models/collections';

export interface RecomputeArgs {
  /** The database to rebuild into (dropped first); it must not be the live one. */
  into: string;
  /** Rebuild from the records written since this instant (epoch ms); from the beginning of each topic when absent. */
  since?: number;
  /** Take in only this workspace's events, and compare only its documents. */
  workspace?: string;
  /** Compare the rebuilt read models with the live database's. */
  compare: boolean;
}

export interface RecomputeSummary {
  records: number;
  seconds: number;
  /** Per collection, documents that differ or exist on one side only (first few); absent without `compare`. */
  differences?: Record<string, string[]>;
  equal?: boolean;
}

export interface RecomputeOutput {
  progress: NodeJS.WritableStream;
  log: (line: string) => void;
}

/**
 * Rebuilds reporting's read models from the raw topics into another database: the reporting service itself, with a
 * consumer group of its own starting at `since` (or each topic's beginning), publishing no report topic, stopped once
 * it has committed every record that was there when it began. Then, with `compare`, every read model collection is
 * compared with the live one document by document (bookkeeping fields aside).
 */
export async function runRecompute(
  args: RecomputeArgs,
  env: Record<string, string | undefined> = process.env,
  output: RecomputeOutput = { progress: process.stderr, log: (line) => console.log(line) },
): Promise<RecomputeSummary> {
  const live = loadReportingConfig(env);
  if (args.into === live.MONGO_DB) throw new Error(`--into ${args.into} is the live database: pick another`);
  const group = `${live.CONSUMER_GROUP}.recompute.${Date.now()}`;
  const config = loadReportingConfig({
    ...env,
    HTTP_PORT: '0',
    LOG_LEVEL: env['LOG_LEVEL'] ?? 'warn',
    MONGO_DB: args.into,
    CONSUMER_GROUP: group,
    CONSUMER_FROM_BEGINNING: 'true',
    REPORT_TOPICS_PUBLISH: 'false',
    ...(args.workspace ? { REPORT_ONLY_WORKSPACE: args.workspace } : {}),
  });
  const started = Date.now();
  await copySettings(live, config);

  const kafka = new Kafka({
    clientId: 'reporting-recompute',
    brokers: config.KAFKA_BROKERS,
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  let service: RunningService | undefined;
  try {
    const existing = new Set(await admin.listTopics());
    const intakeTopics = reportingTopics().filter((topic) => existing.has(topic));
    const ranges = new Map<string, { partition: number; start: number; end: number }[]>();
    for (const topic of intakeTopics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const starts =
        args.since === undefined
          ? ends.map((p) => ({ partition: p.partition, offset: p.low }))
          : await admin.fetchTopicOffsetsByTimestamp(topic, args.since);
      const startOf = new Map(starts.map((p) => [p.partition, Number(p.offset)]));
      ranges.set(
        topic,
        ends.map((p) => ({
          partition: p.partition,
          start: startOf.get(p.partition) ?? Number(p.low),
          end: Number(p.high),
        })),
      );
    }
    await commitGroupOffsets(kafka, group, ranges);
    const total = [...ranges.values()].flat().reduce((sum, p) => sum + Math.max(0, p.end - p.start), 0);

    await dropDatabase(config);
    await copySettings(live, config);
    service = await startService(ReportingModule.forRoot(config), config);
    const bar = new SingleBar(
      {
        format: `recompute ${args.workspace ?? 'all workspaces'} into ${args.into} [{bar}] {value}/{total} records | {duration}s`,
        stream: output.progress,
        noTTYOutput: true,
        notTTYSchedule: 2_000,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0);
    let settled = false;
    for (;;) {
      const committed = await admin.fetchOffsets({ groupId: group, topics: intakeTopics });
      let done = 0;
      let behind = false;
      for (const { topic, partitions } of committed)
        for (const { partition, offset } of partitions) {
          const range = ranges.get(topic)?.find((p) => p.partition === partition);
          if (!range) continue;
          const at = Math.max(range.start, Number(offset));
          done += Math.min(range.end, at) - range.start;
          if (at < range.end) behind = true;
        }
      bar.update(done);
      // Committed to the end and nothing in hand, twice in a row: every record is in the read models.
      const idle = service.app.get(ReportIntake).inFlight === 0;
      if (!behind && idle && settled) break;
      settled = !behind && idle;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    bar.stop();
    await service.close();
    service = undefined;

    const summary: RecomputeSummary = { records: total, seconds: (Date.now() - started) / 1000 };
    if (args.compare) {
      summary.differences = await compareReadModels(live, config, args.workspace);
      summary.equal = Object.values(summary.differences).every((list) => list.length === 0);
    }
    output.log(
      `recomputed ${total} record(s) into ${args.into} in ${summary.seconds.toFixed(1)} s` +
        (args.compare ? `: ${summary.equal ? 'equal to' : 'DIFFERENT from'} the live read models` : ''),
    );
    for (const [collection, list] of Object.entries(summary.differences ?? {}))
      for (const line of list) output.log(`  ${collection}: ${line}`);
    return summary;
  } finally {
    await service?.close();
    await admin.disconnect();
    await admin.deleteGroups([group]).catch(() => undefined);
  }
}

/** How many differing documents are named per collection. */
const DIFFERENCES_SHOWN = 10;

/** Per collection, what differs between the live and the rebuilt read models (one workspace's when given). */
export async function compareReadModels(
  live: ReportingConfig,
  rebuilt: ReportingConfig,
  workspace: string | undefined,
): Promise<Record<string, string[]>> {
  const [a, b] = await Promise.all([connect(live), connect(rebuilt)]);
  try {
    const differences: Record<string, string[]> = {};
    for (const name of READ_MODEL_COLLECTIONS) {
      const filter: Record<string, unknown> = workspace ? { workspaceId: workspace } : {};
      if (name === TALLIES_COLLECTION) filter['model'] = { $nin: [...PROCESSING_TIME_MODELS] };
      const [left, right] = await Promise.all([documents(a, name, filter), documents(b, name, filter)]);
      const found: string[] = [];
      for (const id of new Set([...left.keys(), ...right.keys()])) {
        if (found.length >= DIFFERENCES_SHOWN) break;
        const l = left.get(id);
        const r = right.get(id);
        if (!l) found.push(`${id} only in the rebuilt`);
        else if (!r) found.push(`${id} only in the live`);
        else if (!isDeepStrictEqual(l, r))
          found.push(`${id} live ${JSON.stringify(l)} rebuilt ${JSON.stringify(r)}`);
      }
      differences[name] = found;
    }
    return differences;
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

async function documents(
  connection: mongoose.Connection,
  name: string,
  filter: Record<string, unknown>,
): Promise<Map<string, unknown>> {
  const docs = await connection.collection(name).find(filter).toArray();
  return new Map(
    docs.map((doc) => {
      const copy: Record<string, unknown> = { ...doc };
      for (const field of BOOKKEEPING_FIELDS) delete copy[field];
      return [String(doc._id), copy];
    }),
  );
}

async function connect(config: ReportingConfig): Promise<mongoose.Connection> {
  return mongoose.createConnection(config.MONGO_URL, { dbName: config.MONGO_DB }).asPromise();
}

async function dropDatabase(config: ReportingConfig): Promise<void> {
  const connection = await connect(config);
  try {
    await connection.dropDatabase();
  } finally {
    await connection.close();
  }
}

/** The rebuilt read models are cut as the live ones are: same zones, late allowance and attribution settings. */
async function copySettings(live: ReportingConfig, rebuilt: ReportingConfig): Promise<void> {
  const [from, to] = await Promise.all([connect(live), connect(rebuilt)]);
  try {
    const settings = await from.collection('report_settings').find({}).toArray();
    for (const doc of settings)
      await to.collection('report_settings').replaceOne({ _id: doc._id }, doc, { upsert: true });
  } finally {
    await Promise.all([from.close(), to.close()]);
  }
}
