import mongoose, { type Connection } from 'mongoose';
import type { ReadinessCheck } from './health';

/** Opens the service's own database; mongoose buffers nothing, so a down store surfaces as an error, not a hang. */
export async function connectServiceStore(url: string, dbName: string): Promise<Connection> {
  const connection = mongoose.createConnection(url, {
    dbName,
    serverSelectionTimeoutMS: 3_000,
    heartbeatFrequencyMS: 2_000,
    bufferCommands: false,
    autoIndex: true,
  });
  await connection.asPromise();
  return connection;
}

/** Readiness of the store: a ping round trip. */
export function storeReadiness(connection: Connection): ReadinessCheck {
  return {
    name: 'store',
    async check() {
      const db = connection.db;
      if (!db) throw new Error('not connected');
      await db.command({ ping: 1 });
    },
  };
}

/** True when an error means the store is unreachable (so work should pause), not that the data is bad. */
export function isStoreUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const name = error.name;
  return (
    name === 'MongoNetworkError' ||
    name === 'MongoServerSelectionError' ||
    name === 'MongoNotConnectedError' ||
    name === 'MongoNetworkTimeoutError' ||
    name === 'MongoTopologyClosedError' ||
    /connection .* closed|ECONNREFUSED|buffering timed out/i.test(error.message)
  );
}
