import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KeyLike } from 'jose';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { Catalog, Topics, type AccessCredential } from '@tributary/contracts';
import { ensureTopics, UndecodableMessageError } from '@tributary/messaging';
import type { Logger, ReadinessCheck } from '@tributary/observability';
import { CredentialState } from './credential-state';
import type { ApiKeyCredential, OAuthClientCredential } from './principal-rules';

/** What a credential resolver reads: the credentials known now, and whether they are complete yet. */
export interface CredentialDirectory {
  /** True once everything published before start-up has been read. */
  isReady(): boolean;
  apiKey(keyId: string): ApiKeyCredential | undefined;
  oauthClient(clientId: string): OAuthClientCredential | undefined;
  verificationKey(kid: string): Promise<KeyLike | undefined>;
}

export interface CredentialTableOptions {
  kafka: Kafka;
  /** A connected admin client (topic creation and start-up offsets). */
  admin: Admin;
  /** Decodes registry-framed Avro (the service's AvroSchemaRegistry). */
  registry: { decode(buffer: Buffer | null): Promise<unknown> };
  logger: Logger;
  /** Service name, part of the consumer group id. */
  service: string;
  replicationFactor: number;
  now?: () => number;
}

const TOPIC = Topics.AccessCredentials;

/**
 * Every replica's own in-memory copy of `access.credentials`. It reads the compacted topic from the beginning with a
 * consumer of its own (a group id unique to this process, never committed: kafkajs has no assign(), and sharing a
 * group would split the table between replicas), is ready once it reached the high watermarks it saw at start, and
 * keeps following so revocations and rotations arrive within moments.
 */
export class CredentialTable implements CredentialDirectory {
  readonly state: CredentialState;
  readonly groupId: string;
  private consumer?: Consumer;
  private readonly pending = new Map<number, number>();
  private caughtUp = false;
  private crashed?: string;
  private markReady: () => void = () => undefined;
  private failReady: (error: Error) => void = () => undefined;
  private readonly ready = new Promise<void>((resolve, reject) => {
    this.markReady = resolve;
    this.failReady = reject;
  });

  constructor(private readonly options: CredentialTableOptions) {
    this.state = new CredentialState(options.now);
    this.groupId = `credential-table.${options.service}.${hostname()}.${process.pid}.${randomBytes(4).toString('hex')}`;
    // Awaited by waitUntilReady; a failure nobody waits for (the table was never started) is not unhandled.
    this.ready.catch(() => undefined);
  }

  /** Creates the topic if missing, notes where "caught up" is, and starts reading; resolves once consuming. */
  async start(): Promise<void> {
    const { kafka, admin, replicationFactor, logger } = this.options;
    await ensureTopics(admin, [Catalog[TOPIC]], replicationFactor);
    for (const { partition, high, low } of await admin.fetchTopicOffsets(TOPIC)) {
      if (Number(high) > Number(low)) this.pending.set(partition, Number(high));
    }
    this.checkCaughtUp();
    const consumer = kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxWaitTimeInMs: 500,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      logger.error({ err: payload.error, restart: payload.restart }, 'credential table consumer crashed');
      if (payload.restart) return;
      this.crashed = String(payload.error);
      // Start-up learns it at once rather than when ACCESS_TABLE_READY_TIMEOUT_MS runs out.
      this.failReady(new Error(`${TOPIC} consumer stopped before catching up: ${this.crashed}`));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatch: (payload) => this.onBatch(payload) });
  }

  /** Resolves once caught up; rejects after `timeoutMs` saying how far it got, or at once when the consumer gave up. */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const behind = [...this.pending].map(([p, offset]) => `partition ${p} below offset ${offset}`);
            reject(
              new Error(`${TOPIC} not read up to start-up within ${timeoutMs} ms (${behind.join(', ')})`),
            );
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  isReady(): boolean {
    return this.caughtUp && this.crashed === undefined;
  }

  apiKey(keyId: string): ApiKeyCredential | undefined {
    return this.state.apiKey(keyId);
  }

  oauthClient(clientId: string): OAuthClientCredential | undefined {
    return this.state.oauthClient(clientId);
  }

  verificationKey(kid: string): Promise<KeyLike | undefined> {
    return this.state.verificationKey(kid);
  }

  /** Readiness: up once caught up, down while catching up or after the consumer gave up. */
  readiness(): ReadinessCheck {
    return {
      name: 'credentials',
      check: async () => {
        if (this.crashed !== undefined) throw new Error(`consumer stopped: ${this.crashed}`);
        if (!this.caughtUp) throw new Error(`catching up on ${TOPIC}`);
      },
    };
  }

  async stop(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.disconnect();
  }

  private async onBatch({ batch, heartbeat }: EachBatchPayload): Promise<void> {
    let sinceHeartbeat = 0;
    for (const message of batch.messages) {
      const key = message.key?.toString() ?? '';
      let record: AccessCredential | null = null;
      if (message.value !== null) {
        try {
          record = (await this.options.registry.decode(message.value)) as AccessCredential;
        } catch (error) {
          // A transient registry failure is retried with the batch; bytes that never decode are skipped.
          if (!(error instanceof UndecodableMessageError)) throw error;
          this.options.logger.warn(
            { credentialId: key, offset: message.offset, err: error },
            'undecodable credential',
          );
          continue;
        }
      }
      const outcome = this.state.apply(record?.credentialId ?? key, record);
      if (outcome === 'rejected') {
        this.options.logger.warn(
          { credentialId: key, offset: message.offset },
          'malformed credential record ignored',
        );
      }
      if (++sinceHeartbeat >= 500) {
        await heartbeat();
        sinceHeartbeat = 0;
      }
    }
    const target = this.pending.get(batch.partition);
    if (target !== undefined && (Number(batch.lastOffset()) + 1 >= target || batch.offsetLag() === '0')) {
      this.pending.delete(batch.partition);
      this.checkCaughtUp();
    }
  }

  private checkCaughtUp(): void {
    if (this.caughtUp || this.pending.size > 0) return;
    this.caughtUp = true;
    this.options.logger.info({ topic: TOPIC, ...this.state.counts() }, 'credential table caught up');
    this.markReady();
  }
}
