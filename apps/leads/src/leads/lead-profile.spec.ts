import type { LeadCaptured } from '@tributary/contracts';
import { leadCapturedFixture, trackingEventFixture } from '@tributary/testing';
import {
  attributesOfCrmFields,
  attributesOfLead,
  attributesOfTraits,
  crmStageOf,
  paidOrderEmail,
} from './lead-profile';

const lead = (partial: Partial<LeadCaptured>): LeadCaptured =>
  leadCapturedFixture({ email: 'ada@acme.example', ...partial });

describe('attributesOfLead', () => {
  it('reads the profile fields forms and CRMs send under their various names', () => {
    expect(
      attributesOfLead(
        lead({
          firstName: 'Ada',
          rawFieldsJson: JSON.stringify({
            job_title: ' VP Marketing ',
            employees: '1,200',
            country: 'de',
            industry: 'SaaS',
          }),
        }),
      ),
    ).toEqual({
      email: 'ada@acme.example',
      firstName: 'Ada',
      title: 'VP Marketing',
      companySize: 1200,
      country: 'DE',
      industry: 'SaaS',
    });
  });

  it('reads answers a form nested under `fields`', () => {
    expect(
      attributesOfLead(
        lead({ rawFieldsJson: JSON.stringify({ email: 'x', fields: { jobTitle: 'CTO', country: 'fr' } }) }),
      ),
    ).toEqual({ email: 'ada@acme.example', title: 'CTO', country: 'FR' });
  });

  it('lets the named fields win and ignores junk', () => {
    expect(
      attributesOfLead(
        lead({
          company: 'Acme',
          rawFieldsJson: JSON.stringify({ company: 'Other', companySize: -3, country: 'Germany' }),
        }),
      ),
    ).toEqual({ email: 'ada@acme.example', company: 'Acme' });
    expect(attributesOfLead(lead({ email: null, rawFieldsJson: 'not json' }))).toEqual({});
  });
});

describe('attributesOfTraits', () => {
  it('reads Segment identify traits, with company and address objects', () => {
    const event = trackingEventFixture({
      callType: 'identify',
      userId: 'u',
      traitsJson: JSON.stringify({
        email: 'Ada@Acme.Example',
        title: 'CTO',
        company: { name: 'Acme', employee_count: 80, industry: 'Software' },
        address: { country: 'fr' },
      }),
    });
    expect(attributesOfTraits(event)).toEqual({
      email: 'ada@acme.example',
      title: 'CTO',
      company: 'Acme',
      companySize: 80,
      industry: 'Software',
      country: 'FR',
    });
  });

  it('takes nothing from a track call', () => {
    expect(
      attributesOfTraits(trackingEventFixture({ callType: 'track', traitsJson: '{"title":"x"}' })),
    ).toEqual({});
  });
});

describe('CRM and shop changes', () => {
  it('follows only the late stages a CRM owns', () => {
    expect(crmStageOf('{"lifecyclestage":"customer"}')).toBe('customer');
    expect(crmStageOf('{"lifecyclestage":"Opportunity"}')).toBe('opportunity');
    expect(crmStageOf('{"lifecyclestage":"marketingqualifiedlead"}')).toBeNull();
    expect(attributesOfCrmFields('{"jobtitle":"Head of Sales","numberofemployees":"250"}')).toEqual({
      title: 'Head of Sales',
      companySize: 250,
    });
  });

  it('makes a customer of a paid order only', () => {
    expect(paidOrderEmail('{"financialStatus":"paid","email":"Bo@Shop.Example"}')).toBe('bo@shop.example');
    expect(paidOrderEmail('{"financialStatus":"pending","email":"bo@shop.example"}')).toBeNull();
  });
});
