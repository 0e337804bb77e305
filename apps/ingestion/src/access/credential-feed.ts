import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  CredentialKind,
  credentialRecord,
  signingKeyCredentialId,
  type CredentialSnapshot,
} from '@tributary/access';
import { Topics } from '@tributary/contracts';
import { EventPublisher, type OutgoingEvent } from '@tributary/messaging';
import { currentRequestId, type Logger, SERVICE_LOGGER } from '@tributary/observability';
import {
  apiKeySnapshot,
  clientSnapshot,
  CredentialStore,
  type ApiKeyDoc,
  type OAuthClientDoc,
} from './credential-store';
import { SigningKeyring, type PublicSigningKey, type SigningKeyChange } from './signing-keys';

/** Records per producer request when republishing every credential. */
const PUBLISH_CHUNK = 200;
/** Re-reads of the store while the start-up snapshot races admin changes on other replicas. */
const MAX_SNAPSHOT_PASSES = 5;

const signingKeySnapshot = (key: PublicSigningKey): CredentialSnapshot => ({
  kind: CredentialKind.SigningKey,
  kid: key.kid,
  publicJwk: key.publicJwk,
  notAfter: key.verifyUntil,
  updatedAt: key.createdAt,
});

/**
 * Publishes every credential change to the compacted `access.credentials` topic (after the store has it), so scoring
 * and reporting honour the same keys and scopes without reading ingestion's database. At start-up it republishes the
 * state of every credential, which seeds the topic from existing stores; the same state twice is harmless there.
 * Hashes and public keys only, never a secret.
 */
@Injectable()
export class CredentialFeed implements OnApplicationBootstrap {
  constructor(
    private readonly publisher: EventPublisher,
    private readonly store: CredentialStore,
    private readonly keyring: SigningKeyring,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {
    keyring.onChange((change) => this.signingKeysChanged(change));
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.publishSnapshot();
  }

  async apiKeyChanged(key: ApiKeyDoc): Promise<void> {
    await this.publish([apiKeySnapshot(key)]);
  }

  async clientChanged(client: OAuthClientDoc): Promise<void> {
    await this.publish([clientSnapshot(client)]);
  }

  /**
   * Republishes the state of every credential. Another replica may change a credential between our read and our
   * publish, leaving our older state last on the topic; so we re-read after publishing and publish again whatever
   * differs (a removed signing key as a tombstone), until a re-read matches what we published.
   */
  async publishSnapshot(): Promise<void> {
    const published = new Map<string, string>();
    for (let pass = 1; pass <= MAX_SNAPSHOT_PASSES; pass++) {
      const current = (await this.allSnapshots()).map((snapshot) => credentialRecord(snapshot));
      const changed = current.filter((record) => published.get(record.key) !== record.fingerprint);
      const present = new Set(current.map((record) => record.key));
      const removed = [...published.keys()].filter((credentialId) => !present.has(credentialId));
      if (changed.length === 0 && removed.length === 0) {
        this.logger.info({ credentials: published.size, passes: pass }, 'access credentials published');
        return;
      }
      await this.publishRecords(
        changed.map(({ key, event }) => ({ topic: Topics.AccessCredentials, key, event })),
      );
      for (const credentialId of removed) await this.tombstone(credentialId);
      for (const record of changed) published.set(record.key, record.fingerprint);
      for (const credentialId of removed) published.delete(credentialId);
    }
    this.logger.warn(
      { passes: MAX_SNAPSHOT_PASSES },
      'access credentials kept changing during the start-up snapshot; the changes publish themselves',
    );
  }

  private async signingKeysChanged(change: SigningKeyChange): Promise<void> {
    // Every key: a rotation retires all the others at once.
    await this.publish((await this.keyring.publicKeys()).map(signingKeySnapshot));
    if ('removed' in change) await this.tombstone(signingKeyCredentialId(change.removed));
  }

  private async allSnapshots(): Promise<CredentialSnapshot[]> {
    const [keys, clients, signingKeys] = await Promise.all([
      this.store.allKeys(),
      this.store.allClients(),
      this.keyring.publicKeys(),
    ]);
    return [
      ...keys.map(apiKeySnapshot),
      ...clients.map(clientSnapshot),
      ...signingKeys.map(signingKeySnapshot),
    ];
  }

  private async publish(snapshots: readonly CredentialSnapshot[]): Promise<void> {
    const correlationId = currentRequestId();
    await this.publishRecords(
      snapshots.map((snapshot) => {
        const { key, event } = credentialRecord(snapshot, correlationId);
        return { topic: Topics.AccessCredentials, key, event };
      }),
    );
  }

  private async publishRecords(records: readonly OutgoingEvent[]): Promise<void> {
    for (let i = 0; i < records.length; i += PUBLISH_CHUNK) {
      await this.publisher.publishAll(records.slice(i, i + PUBLISH_CHUNK));
    }
  }

  /** A removed credential leaves the compacted topic (and every table) through a tombstone under its id. */
  private async tombstone(credentialId: string): Promise<void> {
    await this.publisher.publishRaw(Topics.AccessCredentials, { key: credentialId, value: null });
  }
}
