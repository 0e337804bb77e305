import { normaliseEmail, parseLeadForm } from './lead-form';

describe('parseLeadForm', () => {
  it('normalises the email (trim, lower case) and keeps optional names and consents', () => {
    const result = parseLeadForm(
      { email: '  Ada.Lovelace@Example.COM ', firstName: 'Ada', consents: { email_marketing: true } },
      ['email_marketing'],
    );
    expect(result).toEqual({
      ok: true,
      form: { email: 'ada.lovelace@example.com', firstName: 'Ada', consents: { email_marketing: true } },
    });
  });

  it.each(['plainaddress', 'a@', '@example.com', 'a b@example.com', 'ada@example..com', ''])(
    'refuses the malformed email %j',
    (email) => {
      expect(parseLeadForm({ email }, [])).toEqual({
        ok: false,
        problems: [{ field: 'email', reason: 'must be a valid email address' }],
      });
    },
  );

  it('names a missing email and a wrongly typed one', () => {
    expect(parseLeadForm({}, [])).toEqual({ ok: false, problems: [{ field: 'email', reason: 'Required' }] });
    expect(parseLeadForm({ email: 42 }, [])).toEqual({
      ok: false,
      problems: [{ field: 'email', reason: 'must be a string' }],
    });
  });

  it('requires each of the workspace’s consents to be present and granted, naming each field', () => {
    const required = ['email_marketing', 'privacy_policy'];
    expect(parseLeadForm({ email: 'a@example.com', consents: { email_marketing: false } }, required)).toEqual(
      {
        ok: false,
        problems: [
          { field: 'consents.email_marketing', reason: 'required consent must be granted' },
          { field: 'consents.privacy_policy', reason: 'required consent is missing' },
        ],
      },
    );
    expect(
      parseLeadForm(
        { email: 'a@example.com', consents: { email_marketing: true, privacy_policy: true } },
        required,
      ).ok,
    ).toBe(true);
  });

  it('refuses non-boolean consent answers, overlong names and a body that is not an object', () => {
    const result = parseLeadForm(
      { email: 'a@example.com', consents: { x: 'maybe' }, company: 'c'.repeat(201) },
      [],
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.field).sort()).toEqual(['company', 'consents.x']);
    expect(parseLeadForm('hello', [])).toEqual({
      ok: false,
      problems: [{ field: '(body)', reason: 'must be a JSON object' }],
    });
    expect(parseLeadForm(null, []).ok).toBe(false);
  });

  it('reads a form post’s text answers to consents (“true”, a ticked checkbox’s “on”) as booleans', () => {
    const form = {
      email: 'a@example.com',
      consents: { email_marketing: 'true', privacy_policy: 'on', sms: 'false' },
    };
    expect(parseLeadForm(form, ['email_marketing', 'privacy_policy'])).toEqual({
      ok: true,
      form: {
        email: 'a@example.com',
        consents: { email_marketing: true, privacy_policy: true, sms: false },
      },
    });
  });

  it('normaliseEmail maps case variants of one address to one key', () => {
    expect(normaliseEmail(' Grace@Navy.Example')).toBe(normaliseEmail('grace@navy.example '));
  });
});
