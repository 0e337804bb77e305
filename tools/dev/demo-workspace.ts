/**
 * The demo workspace's lead pipeline set-up for `npm start`: routing rules (two sales teams, a territory rule, an
 * accept SLA) and a scoring model, written through the lead service's own API like a customer's admin would. Each is written
 * only while the workspace has none of its own, so edits made while exploring survive a restart.
 */

/** The bootstrap workspace and key every service knows without the admin API (WRITE_KEYS' default). */
export const DEMO_WORKSPACE = 'ws_demo';
export const DEMO_WRITE_KEY = 'demo-write-key';

/** EMEA countries of the demo prospects go to the EMEA team; everyone else to North America. */
const EMEA_COUNTRIES = ['DE', 'GB', 'FR', 'NL', 'ES', 'IE', 'SE', 'IT', 'CH', 'FI'];

/**
 * Two teams with reps in their own time zones. No working hours on purpose: the demo runs at any hour and every
 * lead should find an owner (with working hours, leads outside them wait in the queue).
 */
export const DEMO_ROUTING_RULES = {
  acceptWithinMinutes: 30,
  teams: [
    {
      id: 'emea',
      members: [
        { ownerId: 'rep-anna', capacity: 20, timezone: 'Europe/Berlin' },
        { ownerId: 'rep-ben', capacity: 20, timezone: 'Europe/London' },
        { ownerId: 'rep-chiara', capacity: 10, timezone: 'Europe/Rome' },
      ],
    },
    {
      id: 'na',
      members: [
        { ownerId: 'rep-dana', capacity: 20, timezone: 'America/New_York' },
        { ownerId: 'rep-eli', capacity: 20, timezone: 'America/Los_Angeles' },
      ],
    },
  ],
  rules: [{ id: 'emea-territory', teamId: 'emea', when: { countries: EMEA_COUNTRIES } }],
  fallbackTeamId: 'na',
};

/** Fit from the form and offline enrichment (title, size, industry), engagement from tracking and forms. */
export const DEMO_SCORING_MODEL_YAML = `# Demo scoring model (npm start). A lead at or above mqlThreshold becomes an MQL.
mqlThreshold: 50
engagementHalfLifeDays: 14
fit:
  - { id: senior-title, attribute: title, matches: "\\\\b(vp|vice president|head|director|chief|cmo|cto)\\\\b", points: 20 }
  - { id: mid-market, attribute: companySize, min: 200, max: 5000, points: 15 }
  - { id: target-industry, attribute: industry, equals: [software, financial services, it services, healthcare], points: 10 }
  - { id: free-mail, attribute: freeMail, is: true, points: -15 }
  - { id: disposable-email, attribute: disposableEmail, is: true, points: -50 }
engagement:
  - { id: contact-sales-form, when: { callType: form, event: contact-sales }, points: 25 }
  - { id: form-submitted, when: { callType: form }, points: 10, cap: 40 }
  - { id: demo-requested, when: { callType: track, event: Demo Requested }, points: 20, cap: 40 }
  - { id: pricing-page, when: { callType: track, event: Pricing Page Viewed }, points: 5, cap: 20 }
  - { id: identified, when: { callType: identify }, points: 5, cap: 5 }
  - { id: other-activity, when: { callType: track }, points: 1, cap: 10 }
`;

/**
 * Welcome and nurture: a new lead gets a welcome, then (after a short wait, for the demo) sales or tips by fit,
 * unless it became sales-qualified first (a goal step: it leaves as converted).
 */
export const DEMO_WELCOME_JOURNEY_YAML = `# Demo journey (npm start): every new lead.
name: Welcome and nurture
entry: { on: lifecycle, stage: lead }
steps:
  - id: welcome
    type: email
    subject: "Welcome to Brightlane, {{ contact.firstName | default: 'there' }}"
    html: "<p>Hi {{ contact.firstName | default: 'there' }}, thanks for your interest in Brightlane.</p>"
  # Hashed (SHA-256 of the normalised email) into the sandbox ad platform's audience, with marketing consent only.
  - { id: retarget, type: audience, audience: new-leads, action: add, consent: emailMarketingConsent }
  - { id: settle, type: wait, duration: 1m }
  # Sales qualified it (or it bought) meanwhile: it has converted and leaves here, even mid-wait, with no more emails.
  - { id: qualified, type: goal, where: [{ attribute: stage, op: in, value: [sql, customer] }] }
  - id: by-fit
    type: branch
    branches:
      - when: [{ attribute: companySize, op: gte, value: 200 }]
        next: meet-sales
    otherwise: tips
  - id: meet-sales
    type: email
    subject: "{{ contact.company | default: 'Your team' }} and Brightlane"
    html: "<p>Your account executive would like to show you around.</p>"
    next: done
  - id: tips
    type: email
    subject: "Three tips to get started"
    html: "<p>1. Connect a source. 2. Score your leads. 3. Start a journey.</p>"
  - { id: done, type: exit }
`;

/**
 * Abandoned cart: one enrollment per cart id; the order for that cart within the wait thanks the buyer, no order
 * sends a reminder (seconds in the demo, hours in life).
 */
export const DEMO_CART_JOURNEY_YAML = `# Demo journey (npm start): one enrollment per abandoned cart.
name: Abandoned cart
entry: { on: event, event: Cart Abandoned, key: cart.id, where: [{ property: cart.total, op: gte, value: 20 }] }
reentry: always
steps:
  - { id: await-order, type: wait_event, event: Order Completed, match: cart.id, timeout: 30s, onEvent: thanks }
  - id: reminder
    type: email
    subject: "You left something in your cart"
    html: "<p>Your cart {{ event.cart.id }} ({{ event.cart.total }} EUR) is still waiting.</p>"
    next: done
  - id: thanks
    type: email
    subject: "Thank you for your order"
    html: "<p>Order for cart {{ event.cart.id }} received.</p>"
    category: transactional
  - { id: done, type: exit }
`;

export const DEMO_WEBINAR_JOURNEY_YAML = `# Demo journey (npm start): waits for the lead to qualify, up to a minute.
name: Webinar follow-up
entry: { on: event, event: Webinar Registered }
steps:
  - id: qualified
    type: wait_condition
    where: [{ attribute: stage, op: in, value: [mql, sql] }]
    timeout: 1m
    onTimeout: recording
  - id: sales-intro
    type: email
    subject: "Your personal walkthrough, {{ contact.firstName }}"
    html: "<p>You qualified for a walkthrough with our team.</p>"
    next: done
  - id: recording
    type: email
    subject: "The webinar recording"
    html: "<p>Here is the recording, {{ contact.firstName }}.</p>"
  - { id: done, type: exit }
`;

export const DEMO_DIGEST_JOURNEY_YAML = `# Demo journey (npm start): a scheduled digest to every consenting contact (every 10 minutes in the demo).
name: Product digest
entry:
  on: schedule
  cron: "*/10 * * * *"
  timezone: Europe/Berlin
  where: [{ attribute: emailMarketingConsent, value: "true" }]
reentry: always
steps:
  - id: digest
    type: email
    subject: "What is new this week"
    html: "<p>Hi {{ contact.firstName }}, three things we shipped.</p>"
`;

export interface DemoWorkspaceSetup {
  /** One line per document: what was written or kept, for the start-up banner. */
  summary: string[];
}

async function serviceCall(
  baseUrl: string,
  auth: string,
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  body?: { contentType: string; text: string },
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: auth, ...(body ? { 'content-type': body.contentType } : {}) },
    body: body?.text,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const json = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  if (res.status >= 400 && res.status !== 404)
    throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  return { status: res.status, json };
}

/** Writes the demo routing rules and scoring model where the workspace has none yet; throws when leads refuses. */
export async function setUpDemoWorkspace(options: {
  leadsUrl: string;
  writeKey: string;
}): Promise<DemoWorkspaceSetup> {
  const auth = `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`;
  const summary: string[] = [];

  const rules = await serviceCall(options.leadsUrl, auth, 'GET', '/v1/routing-rules');
  if (rules.status === 404) {
    const put = await serviceCall(options.leadsUrl, auth, 'PUT', '/v1/routing-rules', {
      contentType: 'application/json',
      text: JSON.stringify(DEMO_ROUTING_RULES),
    });
    summary.push(`routing rules v${String(put.json['version'])} written (teams emea + na, SLA 30 min)`);
  } else {
    summary.push(`routing rules v${String(rules.json['version'])} kept (the workspace already had rules)`);
  }

  // Version 0 is the built-in default: the workspace never stored a model of its own.
  const model = await serviceCall(options.leadsUrl, auth, 'GET', '/v1/scoring-model');
  if (model.json['version'] === 0) {
    const put = await serviceCall(options.leadsUrl, auth, 'PUT', '/v1/scoring-model', {
      contentType: 'application/yaml',
      text: DEMO_SCORING_MODEL_YAML,
    });
    summary.push(`scoring model v${String(put.json['version'])} written (MQL at 50)`);
  } else {
    summary.push(`scoring model v${String(model.json['version'])} kept (the workspace already had one)`);
  }
  return { summary };
}

/** Installs and publishes the demo journeys where the workspace has none of that id yet. */
export async function setUpDemoJourneys(options: {
  orchestrationUrl: string;
  writeKey: string;
}): Promise<DemoWorkspaceSetup> {
  const auth = `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`;
  const summary: string[] = [];
  for (const [journeyId, yaml] of [
    ['welcome-nurture', DEMO_WELCOME_JOURNEY_YAML],
    ['abandoned-cart', DEMO_CART_JOURNEY_YAML],
    ['webinar-follow-up', DEMO_WEBINAR_JOURNEY_YAML],
    ['product-digest', DEMO_DIGEST_JOURNEY_YAML],
  ] as const) {
    const path = `/v1/journeys/${journeyId}`;
    const existing = await serviceCall(options.orchestrationUrl, auth, 'GET', path);
    if (existing.status !== 404) {
      summary.push(`journey ${journeyId} kept (${String(existing.json['status'])})`);
      continue;
    }
    await serviceCall(options.orchestrationUrl, auth, 'PUT', path, {
      contentType: 'application/yaml',
      text: yaml,
    });
    await serviceCall(options.orchestrationUrl, auth, 'POST', `${path}/publish`);
    summary.push(`journey ${journeyId} written and published`);
  }
  return { summary };
}
