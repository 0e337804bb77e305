import { SecretBox, parseKeyRing } from './secret-box';

const SECRET_A = 'a'.repeat(40);
const SECRET_B = 'b'.repeat(40);

describe('SecretBox', () => {
  it('opens what it sealed, only with the same context', () => {
    const box = new SecretBox(parseKeyRing(`k1:${SECRET_A}`), 'sync-connections');
    const sealed = box.seal('pat-na1-secret', 'ws_a/conn_1/accessToken');
    expect(sealed).not.toContain('pat-na1-secret');
    expect(box.open(sealed, 'ws_a/conn_1/accessToken')).toBe('pat-na1-secret');
    expect(() => box.open(sealed, 'ws_b/conn_1/accessToken')).toThrow();
  });

  it('refuses a value whose ciphertext was changed', () => {
    const box = new SecretBox(parseKeyRing(`k1:${SECRET_A}`), 'sync-connections');
    const parts = box.seal('pat-na1-secret', 'ctx').split('.');
    const data = Buffer.from(parts[4] as string, 'base64url');
    data[0] = (data[0] ?? 0) ^ 1;
    parts[4] = data.toString('base64url');
    expect(() => box.open(parts.join('.'), 'ctx')).toThrow();
  });

  it('rotates: a new current key seals, the old one still opens, and the old values are named for resealing', () => {
    const before = new SecretBox(parseKeyRing(`k1:${SECRET_A}`), 'sync-connections');
    const old = before.seal('token-1', 'ctx');
    const after = new SecretBox(parseKeyRing(`k2:${SECRET_B},k1:${SECRET_A}`), 'sync-connections');
    expect(after.open(old, 'ctx')).toBe('token-1');
    expect(after.needsReseal(old)).toBe(true);
    const resealed = after.seal(after.open(old, 'ctx'), 'ctx');
    expect(after.needsReseal(resealed)).toBe(false);
    const dropped = new SecretBox(parseKeyRing(`k2:${SECRET_B}`), 'sync-connections');
    expect(dropped.open(resealed, 'ctx')).toBe('token-1');
    expect(() => dropped.open(old, 'ctx')).toThrow("sealed with key 'k1', which is no longer configured");
  });

  it('derives a key per purpose: one secret never opens another purpose’s values', () => {
    const sync = new SecretBox(SECRET_A, 'sync-connections');
    const content = new SecretBox(SECRET_A, 'content-destinations');
    expect(() => content.open(sync.seal('x', 'ctx'), 'ctx')).toThrow();
  });

  it('parses a key ring and refuses short secrets, bad ids and repeats', () => {
    expect(parseKeyRing(`new:${SECRET_B}, old:${SECRET_A}`)).toEqual({
      current: 'new',
      keys: { new: SECRET_B, old: SECRET_A },
    });
    expect(() => parseKeyRing('k1:short')).toThrow('32 characters');
    expect(() => parseKeyRing(`k 1:${SECRET_A}`)).toThrow("key id 'k 1'");
    expect(() => parseKeyRing(`k1:${SECRET_A},k1:${SECRET_B}`)).toThrow('twice');
    expect(() => parseKeyRing('')).toThrow('no key');
  });
});
