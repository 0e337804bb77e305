/**
 * What test runs leave in a long-lived dev stack. Each run gets databases (FerretDB schemas) and topics of its own, so
 * that runs never share state: `test_<run>_<service>` and `platform_<run>` databases, `test.<run>.*` topics, and a
 * dead-letter topic per test consumer group (`dlq.<service>.<run>`). Hundreds of them had piled up over a few days of
 * work. The services' own databases (`tributary_*`), benches' (`bench_*`, dropped by the bench) and the catalog's
 * topics (`dlq.leads` included: a service group has no dot) never match.
 */
import { Kafka, logLevel } from 'kafkajs';
import mongoose from 'mongoose';

export const isTestDatabase = (name: string): boolean => /^(test|platform)_/.test(name);
export const isTestTopic = (name: string): boolean => /^test\./.test(name) || /^dlq\.[^.]+\../.test(name);

export interface StackNames {
  databases: string[];
  topics: string[];
}

interface Endpoints {
  kafkaBrokers: string[];
  mongoUrl: string;
}

async function withClients<T>(
  endpoints: Endpoints,
  use: (admin: ReturnType<Kafka['admin']>, store: mongoose.Connection) => Promise<T>,
): Promise<T> {
  const kafka = new Kafka({
    clientId: 'tributary-stack-prune',
    brokers: endpoints.kafkaBrokers,
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const store = mongoose.createConnection(endpoints.mongoUrl, { serverSelectionTimeoutMS: 5_000 });
  try {
    await Promise.all([admin.connect(), store.asPromise()]);
    return await use(admin, store);
  } finally {
    await Promise.allSettled([admin.disconnect(), store.close()]);
  }
}

async function namesOf(admin: ReturnType<Kafka['admin']>, store: mongoose.Connection): Promise<StackNames> {
  const [topics, listed] = await Promise.all([admin.listTopics(), store.db?.admin().listDatabases()]);
  return { databases: (listed?.databases ?? []).map((db) => db.name), topics };
}

/** The databases and topics of the stack now. */
export async function listStackNames(endpoints: Endpoints): Promise<StackNames> {
  return withClients(endpoints, namesOf);
}

/**
 * Drops the test databases and deletes the test topics of the stack, except those in `keep` (what existed before a
 * test run, which may be another run's, still going). Returns what it removed.
 */
export async function removeTestLeftovers(
  endpoints: Endpoints,
  keep: StackNames = { databases: [], topics: [] },
): Promise<StackNames> {
  const kept = { databases: new Set(keep.databases), topics: new Set(keep.topics) };
  return withClients(endpoints, async (admin, store) => {
    const now = await namesOf(admin, store);
    const databases = now.databases.filter((name) => isTestDatabase(name) && !kept.databases.has(name));
    const doomed = now.topics.filter((name) => isTestTopic(name) && !kept.topics.has(name));
    for (const name of databases) await store.useDb(name, { useCache: false }).dropDatabase();
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed, timeout: 60_000 });
    return { databases, topics: doomed };
  });
}
