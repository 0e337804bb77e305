import { companyAttributesOf, personAttributesOf } from './clearbit-api';

describe('Clearbit-style answers', () => {
  it('maps a company to contact attributes, with the region of its country', () => {
    expect(
      companyAttributesOf({
        name: 'Acme Analytics',
        domain: 'Acme.example',
        metrics: { employees: 800, raised: 1_000_000 },
        category: { industry: 'Software', sector: 'Information Technology' },
        geo: { countryCode: 'de', city: 'Berlin' },
      }),
    ).toEqual({
      company: 'Acme Analytics',
      companyDomain: 'acme.example',
      companySize: 800,
      industry: 'Software',
      country: 'DE',
      region: 'EMEA',
    });
  });

  it('maps a person, leaving out what the provider does not know', () => {
    expect(
      personAttributesOf({
        name: { givenName: 'Ada', familyName: null },
        employment: { title: 'VP Marketing', domain: 'acme.example', name: null },
        geo: { countryCode: 'US' },
      }),
    ).toEqual({
      firstName: 'Ada',
      title: 'VP Marketing',
      companyDomain: 'acme.example',
      country: 'US',
      region: 'NA',
    });
  });

  it('drops a malformed field rather than the whole answer', () => {
    expect(
      companyAttributesOf({ name: 'Globex', metrics: { employees: 'many' }, geo: { countryCode: 'USA' } }),
    ).toEqual({ company: 'Globex' });
  });
});
