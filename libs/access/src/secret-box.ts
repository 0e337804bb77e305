import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Keys by id; `current` seals, every one of them opens. Rotation: add a new key and make it current, reseal what
 * `needsReseal` names, then drop the old key.
 */
export interface SecretKeyRing {
  current: string;
  keys: Readonly<Record<string, string>>;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * A key ring from configuration: `kid:secret` pairs separated by commas, the first one current
 * (`2026b:…,2026a:…`). A secret of 32 characters or more; ids of letters, digits, - and _.
 */
export function parseKeyRing(text: string): SecretKeyRing {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const colon = entry.indexOf(':');
      const [id, secret] = colon < 0 ? ['', entry] : [entry.slice(0, colon), entry.slice(colon + 1)];
      if (!KEY_ID.test(id)) throw new Error(`key id '${id}': letters, digits, - and _ (at most 32)`);
      if (secret.length < 32) throw new Error(`key '${id}': the secret must have 32 characters or more`);
      return [id, secret] as const;
    });
  const [first] = entries;
  if (!first) throw new Error('no key: give kid:secret pairs, the current one first');
  if (new Set(entries.map(([id]) => id)).size !== entries.length) throw new Error('a key id appears twice');
  return { current: first[0], keys: Object.fromEntries(entries) };
}

/**
 * Seals secrets with AES-256-GCM under keys derived from configured secrets (per purpose, so one secret serves
 * several purposes without sharing keys). A context (workspace, connection, field) is authenticated with each
 * sealed value, so one copied to another record does not open.
 * With a single secret it writes `v1.<iv>.<tag>.<data>`; with a key ring `v2.<kid>.<iv>.<tag>.<data>`, which names
 * the key it was sealed with, so keys can rotate.
 */
export class SecretBox {
  private readonly keys = new Map<string, Buffer>();
  private readonly current: string;
  private readonly ring: boolean;

  constructor(secrets: string | SecretKeyRing, purpose: string) {
    const derive = (secret: string) =>
      createHash('sha256').update(`tributary/${purpose}/v1/${secret}`).digest();
    if (typeof secrets === 'string') {
      this.ring = false;
      this.current = '';
      this.keys.set('', derive(secrets));
      return;
    }
    this.ring = true;
    this.current = secrets.current;
    for (const [id, secret] of Object.entries(secrets.keys)) this.keys.set(id, derive(secret));
    if (!this.keys.has(this.current)) throw new Error(`the current key '${this.current}' is not in the ring`);
  }

  seal(plain: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keyOf(this.current), iv);
    cipher.setAAD(Buffer.from(context));
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), data].map((p) => p.toString('base64url'));
    return (this.ring ? ['v2', this.current, ...parts] : ['v1', ...parts]).join('.');
  }

  /** The plain text; throws when the value was tampered with, belongs to another context, or its key is gone. */
  open(sealed: string, context: string): string {
    const { kid, iv, tag, data } = this.partsOf(sealed);
    const decipher = createDecipheriv('aes-256-gcm', this.keyOf(kid), Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }

  /** Whether a sealed value was sealed with another key than the current one (reseal it after a rotation). */
  needsReseal(sealed: string): boolean {
    return this.partsOf(sealed).kid !== this.current;
  }

  private partsOf(sealed: string): { kid: string; iv: string; tag: string; data: string } {
    const parts = sealed.split('.');
    if (parts[0] === 'v1' && parts.length === 4 && !this.ring)
      return { kid: '', iv: parts[1] as string, tag: parts[2] as string, data: parts[3] as string };
    if (parts[0] === 'v2' && parts.length === 5 && this.ring)
      return {
        kid: parts[1] as string,
        iv: parts[2] as string,
        tag: parts[3] as string,
        data: parts[4] as string,
      };
    throw new Error('not a sealed secret of this box');
  }

  private keyOf(kid: string): Buffer {
    const key = this.keys.get(kid);
    if (!key) throw new Error(`sealed with key '${kid}', which is no longer configured`);
    return key;
  }
}
