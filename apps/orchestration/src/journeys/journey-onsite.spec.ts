import { matchesEtag } from '../onsite/onsite.controller';
import { contactIdsOf } from '../onsite/onsite-slots';
import { validateJourney } from './journey-definition';
import { dryRun, dryRunRequest } from './journey-dry-run';
import { afterStep, nextAction, type PathContext } from './journey-path';
import { PREVIEW_UNSUBSCRIBE_URL, previewRequest, previewStep } from './journey-preview';
import { journeyOf } from './testing/journey-documents';

const banner = {
  id: 'banner',
  type: 'onsite',
  slot: 'home-hero',
  content: '<p>Welcome back, {{ contact.firstName }}</p>',
  ttl: '3d',
};

const welcome = journeyOf({
  name: 'Welcome back',
  entry: { on: 'event', event: 'Trial Started' },
  steps: [
    banner,
    {
      id: 'mail',
      type: 'email',
      subject: 'Hi {{ contact.firstName }}',
      html: '<p>{{ event.plan }}</p>',
      text: 'Hi',
    },
    { id: 'text', type: 'sms', body: 'Plan: {{ event.plan }} {{ unsubscribe_url }}' },
    { id: 'pause', type: 'wait', duration: '1d' },
  ],
});

const context: PathContext = { contactId: 'c-1', attributes: {}, stage: 'lead', score: 0, properties: {} };

describe('the onsite step', () => {
  it('is a valid step with a slot, a Liquid content and an optional ttl', () => {
    const step = welcome.steps[0];
    expect(step).toEqual(banner);
    const withoutTtl = validateJourney({
      name: 'x',
      entry: { on: 'lifecycle', stage: 'lead' },
      steps: [{ id: 'a', type: 'onsite', slot: 'sidebar', content: 'Hello' }],
    });
    expect(withoutTtl.ok).toBe(true);
  });

  it.each([
    [{ slot: 'Home Hero' }, 'steps[0].slot'],
    [{ content: '{{ contact.firstName | nope }}' }, 'steps[0].content'],
    [{ content: '{% if %}' }, 'steps[0].content'],
    [{ content: '' }, 'steps[0].content'],
    [{ ttl: 'forever' }, 'steps[0].ttl'],
    [{ colour: 'red' }, 'steps[0].colour'],
  ])('refuses %j with a field error on %s', (change, field) => {
    const parsed = validateJourney({
      name: 'x',
      entry: { on: 'lifecycle', stage: 'lead' },
      steps: [{ ...banner, ...change }],
    });
    expect(parsed.ok).toBe(false);
    const fields = parsed.ok ? [] : parsed.errors.map((e) => e.field);
    expect(fields).toContain(field);
  });

  it('is an effect step the engine runs, then goes on to the next step', () => {
    const action = nextAction(welcome, null, context, 'k', 0);
    expect(action.kind).toBe('effect');
    expect(action.kind === 'effect' ? action.step.id : null).toBe('banner');
    expect(afterStep(welcome, 'banner')).toBe('mail');
  });

  it('is listed by the dry run with its slot and ttl', () => {
    const request = dryRunRequest.parse({
      contact: { attributes: {} },
      event: { name: 'Trial Started' },
    });
    const result = dryRun(welcome, request, 'k');
    expect(result.path[0]).toEqual({
      stepId: 'banner',
      type: 'onsite',
      action: 'shows content in the on-site slot home-hero for 3d',
    });
    expect(result.path[1]?.stepId).toBe('mail');
  });
});

describe('previewing a step', () => {
  const contact = { contactId: 'c-1', attributes: { firstName: 'Ada' }, stage: 'lead', score: 3 };
  const ref = { id: 'welcome', version: 2 };

  it('renders an email as a send would: HTML escaped, subject and text as written', async () => {
    const result = await previewStep(
      welcome,
      ref,
      previewRequest.parse({
        stepId: 'mail',
        attributes: { firstName: '<b>Bo</b>' },
        event: { plan: '<i>pro</i>' },
      }),
      contact,
    );
    expect(result).toEqual({
      ok: true,
      value: {
        stepId: 'mail',
        type: 'email',
        subject: 'Hi <b>Bo</b>',
        html: '<p>&lt;i&gt;pro&lt;/i&gt;</p>',
        text: 'Hi',
      },
    });
  });

  it('renders an sms with the placeholder unsubscribe link, and onsite content escaped', async () => {
    const sms = await previewStep(
      welcome,
      ref,
      previewRequest.parse({ stepId: 'text', event: { plan: 'pro' } }),
      contact,
    );
    expect(sms).toEqual({
      ok: true,
      value: { stepId: 'text', type: 'sms', body: `Plan: pro ${PREVIEW_UNSUBSCRIBE_URL}` },
    });
    const onsite = await previewStep(
      welcome,
      ref,
      previewRequest.parse({ stepId: 'banner', attributes: { firstName: 'A&B' } }),
      contact,
    );
    expect(onsite).toEqual({
      ok: true,
      value: { stepId: 'banner', type: 'onsite', slot: 'home-hero', content: '<p>Welcome back, A&amp;B</p>' },
    });
  });

  it('answers an unknown step 404 and a step without templates 400, on stepId', async () => {
    const unknown = await previewStep(welcome, ref, previewRequest.parse({ stepId: 'nope' }), contact);
    expect(unknown).toMatchObject({ ok: false, status: 404, errors: [{ field: 'stepId' }] });
    const wait = await previewStep(welcome, ref, previewRequest.parse({ stepId: 'pause' }), contact);
    expect(wait).toMatchObject({ ok: false, status: 400, errors: [{ field: 'stepId' }] });
  });

  it('reports a template that fails while rendering on its field', async () => {
    const dividing = journeyOf({
      name: 'x',
      entry: { on: 'lifecycle', stage: 'lead' },
      steps: [{ id: 'm', type: 'email', subject: 'ok', html: '{% include "missing" %}' }],
    });
    const result = await previewStep(dividing, ref, previewRequest.parse({ stepId: 'm' }), contact);
    expect(result).toMatchObject({ ok: false, status: 400, errors: [{ field: 'html' }] });
  });
});

describe('If-None-Match', () => {
  it('matches the tag, in a list, weakly, or *; not another tag or none', () => {
    expect(matchesEtag('"abc"', '"abc"')).toBe(true);
    expect(matchesEtag('"x", W/"abc"', '"abc"')).toBe(true);
    expect(matchesEtag('*', '"abc"')).toBe(true);
    expect(matchesEtag('"abd"', '"abc"')).toBe(false);
    expect(matchesEtag(undefined, '"abc"')).toBe(false);
  });
});

describe('the contacts a visitor may be', () => {
  it('are the workspace-scoped ids of its userId, then its anonymousId', () => {
    expect(contactIdsOf('ws1', { userId: 'u-1' })).toEqual(['ws1:u-1']);
    expect(contactIdsOf('ws1', { anonymousId: 'a-1' })).toEqual(['ws1:a-1']);
    expect(contactIdsOf('ws1', { userId: 'u-1', anonymousId: 'a-1' })).toEqual(['ws1:u-1', 'ws1:a-1']);
  });
});
