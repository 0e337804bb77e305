import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { Topics, type ConnectorHealth, type TopicName } from '@tributary/contracts';
import {
  STORE_CONNECTION,
  guardedUpserts,
  type GuardedUpdate,
  type UpsertCollection,
} from '@tributary/store';
import type { AnyIntakeBatch, ReportContributor } from '../intake/report-contributor';
import { tallyId } from '../read-models/tallies';

/** One document per workspace, sync connection and vendor object: its latest reported state. */
export const CONNECTIONS_COLLECTION = 'report_connections';

export interface ConnectionStateDoc {
  _id: string;
  workspaceId: string;
  connectionId: string;
  object: string;
  connector: string;
  status: ConnectorHealth['status'];
  lastPollAt: Date | null;
  lastSuccessAt: Date | null;
  readUpTo: Date | null;
  lagMs: number | null;
  published: number;
  consecutiveFailures: number;
  lastError: string | null;
  apiVersion: string;
  apiSunsetAt: string | null;
  apiSunsetSoon: boolean;
  /** When sync reported this state (the event's occurredAt): only a later report replaces it. */
  reportedAt: Date;
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

/**
 * The latest state of every sync connection, as sync reports it after each poll. A state replaces the stored one only
 * when it was reported later, so a redelivered or reordered old report cannot undo a newer one.
 */
@Injectable()
export class ConnectionStates implements OnModuleInit {
  constructor(@Inject(STORE_CONNECTION) private readonly connection: Connection) {}

  async onModuleInit(): Promise<void> {
    await this.connection.collection(CONNECTIONS_COLLECTION).createIndex({ workspaceId: 1 });
  }

  /** Keeps each report unless a later one of its connection and object is stored (or in the same list). */
  async record(reports: readonly ConnectorHealth[]): Promise<void> {
    const newest = new Map<string, ConnectorHealth>();
    for (const report of reports) {
      const id = tallyId([report.metadata.workspaceId, report.connectionId, report.object]);
      const kept = newest.get(id);
      if (!kept || kept.metadata.occurredAt < report.metadata.occurredAt) newest.set(id, report);
    }
    const updates: GuardedUpdate[] = [...newest].map(([_id, report]) => {
      const reportedAt = new Date(report.metadata.occurredAt);
      return {
        filter: { _id, $or: [{ reportedAt: { $lt: reportedAt } }, { reportedAt: { $exists: false } }] },
        update: {
          $set: {
            connector: report.connector,
            status: report.status,
            lastPollAt: date(report.lastPollAt),
            lastSuccessAt: date(report.lastSuccessAt),
            readUpTo: date(report.readUpTo),
            lagMs: report.lagMs,
            published: report.published,
            consecutiveFailures: report.consecutiveFailures,
            lastError: report.lastError,
            apiVersion: report.apiVersion,
            apiSunsetAt: report.apiSunsetAt,
            apiSunsetSoon: report.apiSunsetSoon,
            reportedAt,
          },
          $setOnInsert: {
            workspaceId: report.metadata.workspaceId,
            connectionId: report.connectionId,
            object: report.object,
          },
        },
      };
    });
    // A refusal is a stored state reported later than this one: nothing to do.
    await guardedUpserts(
      this.connection.collection(CONNECTIONS_COLLECTION) as unknown as UpsertCollection,
      updates,
    );
  }

  /** The workspace's connections, by connection and object. */
  async ofWorkspace(workspaceId: string): Promise<ConnectionStateDoc[]> {
    return this.connection
      .collection<ConnectionStateDoc>(CONNECTIONS_COLLECTION)
      .find({ workspaceId })
      .sort({ connectionId: 1, object: 1 })
      .toArray() as Promise<ConnectionStateDoc[]>;
  }
}

/** Feeds each sync connection's latest state from `sync.connector.health`. */
@Injectable()
export class ConnectionHealthContributor implements ReportContributor {
  readonly topics: readonly TopicName[] = [Topics.SyncConnectorHealth];

  constructor(private readonly states: ConnectionStates) {}

  async collect(batch: AnyIntakeBatch): Promise<void> {
    if (batch.topic === Topics.SyncConnectorHealth) await this.states.record(batch.events);
  }
}
