import { hashedMemberOf, normalisedEmail, normalisedPhone, sha256Hex } from './audience-identifiers';

describe('audience identifiers, normalised and hashed as ad platforms match them', () => {
  it('hashes with SHA-256 as lower-case hex (X Ads API’s published example)', () => {
    // developer.x.com, Custom Audiences user data: hashlib.sha256("adsapi") → 49e0be2a…
    expect(sha256Hex('adsapi')).toBe('49e0be2aeccfb51a8dee4c945c8a70a9ac500cf6f5cb08112575f74db9b1470d');
  });

  it('trims and lower-cases an email before hashing (Snap Conversions API’s published example)', () => {
    // developers.snap.com: "Person@Example.com" → "person@example.com" → 542d2401…
    expect(normalisedEmail('  Person@Example.com ')).toBe('person@example.com');
    expect(hashedMemberOf({ email: 'Person@Example.com' })).toEqual({
      hashedEmail: '542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345',
    });
  });

  it('keeps the dots of a gmail address (Meta and Customer Match match the address as given)', () => {
    expect(normalisedEmail('Ada.Lovelace@Gmail.com')).toBe('ada.lovelace@gmail.com');
  });

  it('refuses what cannot be an email', () => {
    expect(normalisedEmail('ada at example dot com')).toBeNull();
    expect(normalisedEmail('ada@localhost')).toBeNull();
  });

  it('writes a phone number in E.164 (Snap’s published example "+44 844 412 4653")', () => {
    expect(normalisedPhone('+44 844 412 4653')).toBe('+448444124653');
    expect(normalisedPhone('0044 (844) 412-4653')).toBe('+448444124653');
    // Snap hashes the digits without "+": its published digest of 448444124653 confirms the digits are right.
    expect(sha256Hex('448444124653')).toMatch(/^dc008fda46e2e64002cf2f82a4906236282d4/);
    expect(hashedMemberOf({ phone: '+44 844 412 4653' })).toEqual({
      hashedPhoneNumber: sha256Hex('+448444124653'),
    });
  });

  it('refuses a phone number without its country code rather than guess the country', () => {
    expect(normalisedPhone('0151 12345678')).toBeNull();
    expect(normalisedPhone('+0151')).toBeNull();
  });

  it('hashes both identifiers when the contact has both, and none when it has neither', () => {
    const member = hashedMemberOf({ email: 'ada@example.com', phone: '+4915112345678' });
    expect(member).toEqual({
      hashedEmail: sha256Hex('ada@example.com'),
      hashedPhoneNumber: sha256Hex('+4915112345678'),
    });
    expect(Object.values(member ?? {}).every((hash) => /^[0-9a-f]{64}$/.test(hash))).toBe(true);
    expect(hashedMemberOf({ firstName: 'Ada' })).toBeNull();
    expect(hashedMemberOf({ email: 'nope', phone: '12345' })).toBeNull();
  });
});
