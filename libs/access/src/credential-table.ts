import type { KeyLike } from 'jose';
import type { Admin, EachBatchPayload, Kafka } from 'kafkajs';
import { Catalog, Topics, type AccessCredential } from '@tributary/contracts';
import { ensureTopics, TopicFollower, UndecodableMessageError } from '@tributary/messaging';
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
 * TopicFollower (a consumer group of its own, never committed), is ready once it reached the high watermarks it saw
 * at start, and keeps following so revocations and rotations arrive within moments.
 */
export class CredentialTable implements CredentialDirectory {
  readonly state: CredentialState;
  private readonly follower: TopicFollower;

  constructor(private readonly options: CredentialTableOptions) {
    this.state = new CredentialState(options.now);
    this.follower = new TopicFollower({
      kafka: options.kafka,
      topic: TOPIC,
      reader: `credential-table.${options.service}`,
      logger: options.logger,
      onBatch: (payload) => this.onBatch(payload),
      onCaughtUp: () =>
        options.logger.info({ topic: TOPIC, ...this.state.counts() }, 'credential table caught up'),
    });
  }

  get groupId(): string {
    return this.follower.groupId;
  }

  /** Creates the topic if missing, notes where "caught up" is, and starts reading; resolves once consuming. */
  async start(): Promise<void> {
    const { admin, replicationFactor } = this.options;
    await ensureTopics(admin, [Catalog[TOPIC]], replicationFactor);
    const ends = new Map<number, number>();
    for (const { partition, high, low } of await admin.fetchTopicOffsets(TOPIC)) {
      if (Number(high) > Number(low)) ends.set(partition, Number(high));
    }
    await this.follower.start(ends);
  }

  /** Resolves once caught up; rejects after `timeoutMs` saying how far it got, or at once when the consumer gave up. */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    await this.follower.waitUntilCaughtUp(timeoutMs);
  }

  isReady(): boolean {
    return this.follower.isCaughtUp();
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
        const crashed = this.follower.crashReason;
        if (crashed !== undefined) throw new Error(`consumer stopped: ${crashed}`);
        if (!this.follower.isCaughtUp()) throw new Error(`catching up on ${TOPIC}`);
      },
    };
  }

  async stop(): Promise<void> {
    await this.follower.stop();
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
  }
}
