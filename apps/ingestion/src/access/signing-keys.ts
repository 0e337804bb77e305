import { Schema, type Connection, type Model } from 'mongoose';
import { exportJWK, generateKeyPair, importJWK, type JWK, type KeyLike } from 'jose';
import { TOKEN_ALG, newCredentialId } from '@tributary/access';

/** An ES256 key pair that signs (newest live key) or only verifies (rotated out, until `verifyUntil`). */
export interface StoredSigningKey {
  kid: string;
  publicJwk: JWK;
  privateJwk: JWK;
  createdAt: Date;
  /** null while current; set at rotation to when the last token it signed expires. */
  verifyUntil: Date | null;
}

/** Where signing keys live; the keyring caches them. */
export interface SigningKeyStore {
  all(): Promise<StoredSigningKey[]>;
  insert(key: StoredSigningKey): Promise<void>;
  /** Caps `verifyUntil` of every key but `kid` at `until`. */
  retireOthers(kid: string, until: Date): Promise<void>;
  remove(kid: string): Promise<boolean>;
}

interface SigningKeyDoc {
  _id: string;
  publicJwk: JWK;
  privateJwk: JWK;
  createdAt: Date;
  verifyUntil: Date | null;
}

/**
 * Signing keys in ingestion's database, shared by its replicas. The private JWK is stored as is: encrypting it with a
 * KMS-held key is the production hardening still to do.
 */
export class MongoSigningKeyStore implements SigningKeyStore {
  private readonly model: Model<SigningKeyDoc>;

  constructor(connection: Connection) {
    const schema = new Schema<SigningKeyDoc>(
      {
        _id: { type: String, required: true },
        publicJwk: { type: Schema.Types.Mixed, required: true },
        privateJwk: { type: Schema.Types.Mixed, required: true },
        createdAt: { type: Date, required: true },
        verifyUntil: { type: Date, default: null },
      },
      { versionKey: false, collection: 'signing_keys', minimize: false },
    );
    this.model = connection.models['SigningKey'] ?? connection.model<SigningKeyDoc>('SigningKey', schema);
  }

  async all(): Promise<StoredSigningKey[]> {
    const docs = await this.model.find({}).lean<SigningKeyDoc[]>();
    return docs.map(({ _id, ...rest }) => ({ kid: _id, ...rest }));
  }

  async insert({ kid, ...rest }: StoredSigningKey): Promise<void> {
    await this.model.create({ _id: kid, ...rest });
  }

  async retireOthers(kid: string, until: Date): Promise<void> {
    await this.model.updateMany(
      { _id: { $ne: kid }, $or: [{ verifyUntil: null }, { verifyUntil: { $gt: until } }] },
      { $set: { verifyUntil: until } },
    );
  }

  async remove(kid: string): Promise<boolean> {
    return (await this.model.deleteOne({ _id: kid })).deletedCount > 0;
  }
}

/** Signing keys in memory (unit tests, single-process tools). */
export class InMemorySigningKeyStore implements SigningKeyStore {
  private readonly keys = new Map<string, StoredSigningKey>();
  async all(): Promise<StoredSigningKey[]> {
    return [...this.keys.values()].map((k) => ({ ...k }));
  }
  async insert(key: StoredSigningKey): Promise<void> {
    this.keys.set(key.kid, { ...key });
  }
  async retireOthers(kid: string, until: Date): Promise<void> {
    for (const key of this.keys.values()) {
      if (key.kid !== kid && (key.verifyUntil === null || key.verifyUntil > until)) key.verifyUntil = until;
    }
  }
  async remove(kid: string): Promise<boolean> {
    return this.keys.delete(kid);
  }
}

interface LoadedKey {
  stored: StoredSigningKey;
  publicKey: KeyLike;
  privateKey: KeyLike;
}

export interface KeyringOptions {
  /** How long loaded keys are trusted before re-reading the store (bound for removals by other replicas). */
  cacheTtlMs: number;
  /** How long a rotated-out key still verifies: the access token lifetime plus clock skew. */
  retireAfterMs: number;
  now?: () => number;
}

/** What changed in the keyring: a key rotated in (others retired) or a key removed. */
export type SigningKeyChange = { rotated: string } | { removed: string };

/** The public half of a stored signing key (what other services may know). */
export type PublicSigningKey = Omit<StoredSigningKey, 'privateJwk'>;

/** Raised when removing the key that currently signs: rotate first. */
export class CurrentSigningKeyError extends Error {}

/**
 * The OAuth2 token signing keys: the newest live key signs; rotated-out keys keep verifying until the tokens they
 * signed have expired, then drop out of verification and the JWKS. Removing a key stops its tokens at once.
 */
export class SigningKeyring {
  private loaded?: { at: number; keys: Map<string, LoadedKey> };
  private readonly now: () => number;
  private readonly listeners: Array<(change: SigningKeyChange) => Promise<void>> = [];

  constructor(
    private readonly store: SigningKeyStore,
    private readonly options: KeyringOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Called after every rotation or removal, once the store has it (a failing listener fails the change). */
  onChange(listener: (change: SigningKeyChange) => Promise<void>): void {
    this.listeners.push(listener);
  }

  /** Every stored key's public half, read fresh from the store (retired ones included). */
  async publicKeys(): Promise<PublicSigningKey[]> {
    return (await this.store.all()).map(({ kid, publicJwk, createdAt, verifyUntil }) => ({
      kid,
      publicJwk,
      createdAt,
      verifyUntil,
    }));
  }

  /** Makes sure a current key exists (first boot). Replicas racing here each add one; the newest signs. */
  async init(): Promise<void> {
    if (!(await this.current())) await this.rotate();
  }

  /** Adds a new current key and schedules the previous ones to stop verifying once their tokens expired. */
  async rotate(): Promise<{ kid: string; retiredUntil: Date }> {
    const { publicKey, privateKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
    const kid = `sk_${newCredentialId()}`;
    const now = this.now();
    await this.store.insert({
      kid,
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALG, use: 'sig' },
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: TOKEN_ALG },
      createdAt: new Date(now),
      verifyUntil: null,
    });
    const retiredUntil = new Date(now + this.options.retireAfterMs);
    await this.store.retireOthers(kid, retiredUntil);
    this.loaded = undefined;
    await this.notify({ rotated: kid });
    return { kid, retiredUntil };
  }

  /** Deletes a key: tokens it signed stop verifying (other replicas: within the cache TTL). */
  async remove(kid: string): Promise<boolean> {
    const current = await this.current(true);
    if (current?.stored.kid === kid)
      throw new CurrentSigningKeyError('rotate before removing the current key');
    const removed = await this.store.remove(kid);
    this.loaded = undefined;
    if (removed) await this.notify({ removed: kid });
    return removed;
  }

  /** The key new tokens are signed with. */
  async signingKey(): Promise<{ kid: string; privateKey: KeyLike }> {
    let current = await this.current();
    if (!current) {
      await this.rotate();
      current = await this.current(true);
    }
    if (!current) throw new Error('no signing key available');
    return { kid: current.stored.kid, privateKey: current.privateKey };
  }

  /** The public key for a token's `kid`, if that key still verifies. */
  async verificationKey(kid: string): Promise<KeyLike | undefined> {
    let key = (await this.keys()).get(kid);
    // A kid we do not know may come from a key another replica just rotated in: re-read, at most once a second.
    if (!key && this.loaded && this.now() - this.loaded.at > 1_000) key = (await this.keys(true)).get(kid);
    return key && this.isLive(key.stored) ? key.publicKey : undefined;
  }

  /** The public keys that verify tokens now, as a JWK Set. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const keys = [...(await this.keys()).values()].filter((k) => this.isLive(k.stored));
    // Current key first, then the rotated-out ones, latest to retire first.
    const order = (k: LoadedKey) => k.stored.verifyUntil?.getTime() ?? Number.POSITIVE_INFINITY;
    keys.sort((a, b) => order(b) - order(a) || b.stored.createdAt.getTime() - a.stored.createdAt.getTime());
    return { keys: keys.map((k) => k.stored.publicJwk) };
  }

  private async notify(change: SigningKeyChange): Promise<void> {
    for (const listener of this.listeners) await listener(change);
  }

  private isLive(key: StoredSigningKey): boolean {
    return key.verifyUntil === null || key.verifyUntil.getTime() > this.now();
  }

  private async current(fresh = false): Promise<LoadedKey | undefined> {
    const candidates = [...(await this.keys(fresh)).values()].filter((k) => k.stored.verifyUntil === null);
    candidates.sort((a, b) => b.stored.createdAt.getTime() - a.stored.createdAt.getTime());
    return candidates[0];
  }

  private async keys(fresh = false): Promise<Map<string, LoadedKey>> {
    const now = this.now();
    if (!fresh && this.loaded && now - this.loaded.at < this.options.cacheTtlMs) return this.loaded.keys;
    const keys = new Map<string, LoadedKey>();
    for (const stored of await this.store.all()) {
      keys.set(stored.kid, {
        stored,
        publicKey: (await importJWK(stored.publicJwk, TOKEN_ALG)) as KeyLike,
        privateKey: (await importJWK(stored.privateJwk, TOKEN_ALG)) as KeyLike,
      });
    }
    this.loaded = { at: now, keys };
    return keys;
  }
}
