/**
 * `npm start`: the whole platform on this machine without Docker — the real stack (Kafka, Apicurio, PostgreSQL,
 * FerretDB), all five services as separate processes, the demo workspace's lead routing and scoring model, and demo
 * traffic (tracking plus lead forms) — then prints where to look. Ctrl-C stops the services (the stack keeps running for a
 * fast restart; `npm run stack -- down` stops it).
 */
import { join } from 'node:path';
import { Command } from 'commander';
import { describeFailure } from '../stack/errors';
import { stackEndpoints, stackUp } from '../stack/stack';
import { consumerBacklogs, skipBacklogs } from './consumer-backlog';
import { DEMO_PROSPECTS, sendDemoTraffic } from './demo-traffic';
import { DEMO_WORKSPACE, DEMO_WRITE_KEY, setUpDemoJourneys, setUpDemoWorkspace } from './demo-workspace';
import { setUpDemoSync, startCrmSandbox } from './demo-sync';
import { setUpDemoContent, startContentSandboxes } from './demo-content';
import { FakeAdAudiences, FakeSendGrid, FakeTwilio } from '@tributary/sandbox';
import { spawnService, stopService, waitReady, type RunningProcess } from '@tributary/testing';
import { SERVICES } from './services';

const root = join(__dirname, '..', '..');
/** A group this far behind delays the demo noticeably (a few minutes on a laptop), so start-up says so. */
const BACKLOG_WARNING_RECORDS = 1_000;
/** The sandbox email provider: SendGrid's API, recording instead of delivering (SANDBOX_EMAIL_PORT moves it). */
const SANDBOX_EMAIL_PORT = Number(process.env['SANDBOX_EMAIL_PORT'] ?? 4010);
const SANDBOX_SENDGRID_KEY = 'SG.sandbox';
/** The sandbox SMS provider: Twilio's API on SANDBOX_SMS_PORT, recording instead of texting. */
const SANDBOX_SMS_PORT = Number(process.env['SANDBOX_SMS_PORT'] ?? 4011);
const SANDBOX_TWILIO_SID = `AC${'5a'.repeat(16)}`;
const SANDBOX_TWILIO_TOKEN = 'sandbox-twilio-auth-token';
const SANDBOX_ADS_PORT = Number(process.env['SANDBOX_ADS_PORT'] ?? 4012);
const SANDBOX_ADS_CLIENT = { id: 'sandbox-ads-client', secret: 'sandbox-ads-secret' };
/** Where the sandboxes post their delivery feedback: the local edge (ingestion). */
const EDGE_URL = `http://127.0.0.1:${SERVICES.find((s) => s.name === 'ingestion')?.port ?? 3000}`;
/** The reporting dashboard, served by the reporting service; the demo key holds every scope, reports:read among them. */
const DASHBOARD_URL = `http://127.0.0.1:${SERVICES.find((s) => s.name === 'reporting')?.port ?? 3004}/dashboard`;

/** Tells about (or, with --skip-backlog, skips) what the dev consumer groups have not consumed yet. */
async function handleBacklog(brokers: string, skip: boolean): Promise<void> {
  const groups = SERVICES.map((s) => s.name);
  try {
    if (skip) {
      const refused = await skipBacklogs(brokers, groups);
      console.log(
        refused.length === 0
          ? 'consumer groups moved to the end of their topics (--skip-backlog)'
          : `could not move ${refused.join(', ')} (still running somewhere?); they keep their positions`,
      );
      return;
    }
    const behind = (await consumerBacklogs(brokers, groups)).filter(
      (b) => b.total >= BACKLOG_WARNING_RECORDS,
    );
    if (behind.length === 0) return;
    console.log('older events on this stack (e.g. from test runs) are waiting for the services:');
    for (const backlog of behind)
      console.log(`  ${backlog.group}: ${backlog.topics.map((t) => `${t.behind} on ${t.topic}`).join(', ')}`);
    console.log(
      '  they go first, so demo leads show up late; `npm start -- --skip-backlog` starts at the end.',
    );
  } catch (error) {
    console.log(`(could not read the consumer groups' positions: ${(error as Error).message})`);
  }
}

async function main(): Promise<void> {
  const options = new Command('start')
    .option('--skip-backlog', 'start the services’ consumer groups at the end of their topics')
    .parse()
    .opts<{ skipBacklog?: boolean }>();
  const t0 = Date.now();
  await stackUp();
  const endpoints = stackEndpoints();
  await handleBacklog(endpoints.kafkaBrokers, options.skipBacklog === true);
  // Journeys send through SendGrid's SDK to this sandbox unless a real key is given (then to SendGrid itself).
  // Both sandboxes report back through the edge as the providers would: SendGrid's signed Event Webhook (one demo
  // prospect's address bounces, another opens and clicks) and Twilio's status callbacks and inbound texts.
  const sandbox = process.env['SENDGRID_API_KEY']
    ? undefined
    : new FakeSendGrid({
        apiKey: SANDBOX_SENDGRID_KEY,
        eventWebhookUrl: `${EDGE_URL}/v1/webhooks/sendgrid/${DEMO_WORKSPACE}/events`,
        eventBatchMs: 1_000,
      });
  const bouncing = DEMO_PROSPECTS[1];
  if (bouncing) sandbox?.feedbackFor(bouncing.email, ['bounce']);
  if (DEMO_PROSPECTS[0]) sandbox?.feedbackFor(DEMO_PROSPECTS[0].email, ['open', 'click']);
  const sandboxUrl = await sandbox?.start(SANDBOX_EMAIL_PORT);
  const smsSandbox = process.env['TWILIO_ACCOUNT_SID']
    ? undefined
    : new FakeTwilio({
        accountSid: SANDBOX_TWILIO_SID,
        authToken: SANDBOX_TWILIO_TOKEN,
        statusCallbackDelayMs: 500,
        smsUrl: `${EDGE_URL}/v1/webhooks/twilio/${DEMO_WORKSPACE}/inbound`,
      });
  const smsSandboxUrl = await smsSandbox?.start(SANDBOX_SMS_PORT);
  // Audience steps upload hashed members to a Customer-Match-style sandbox unless a real platform is configured.
  const adsSandbox = process.env['AD_AUDIENCES_BASE_URL']
    ? undefined
    : new FakeAdAudiences({
        clientId: SANDBOX_ADS_CLIENT.id,
        clientSecret: SANDBOX_ADS_CLIENT.secret,
        autoCreateAudiences: true,
      });
  const adsSandboxUrl = await adsSandbox?.start(SANDBOX_ADS_PORT);
  // Content is published to sandbox WordPress and LinkedIn APIs (the demo workspace's destinations point there).
  const contentSandboxes = await startContentSandboxes();
  // Sync reads the demo prospects (and a colleague's edits) from a sandbox HubSpot portal unless a real one is named.
  const crmSandbox = process.env['HUBSPOT_API_URL'] ? undefined : await startCrmSandbox();
  const feedbackSecrets = [
    ...(sandbox ? [`${DEMO_WORKSPACE}:sendgrid:${sandbox.eventWebhookPublicKey}`] : []),
    ...(smsSandbox ? [`${DEMO_WORKSPACE}:twilio:${SANDBOX_TWILIO_TOKEN}`] : []),
  ];
  const logDir = join(root, '.stack', 'logs', 'services');
  console.log('starting services (logs in .stack/logs/services/) ...');
  const env = {
    ...endpoints.env,
    // The demo's lead forms must carry this consent, so a form without it shows the edge's 400 (unless overridden).
    LEAD_REQUIRED_CONSENTS: process.env['LEAD_REQUIRED_CONSENTS'] ?? `${DEMO_WORKSPACE}:privacy_policy`,
    // A topic a group never read starts at its end: the demo needs its own traffic, not every test run's.
    CONSUMER_FROM_BEGINNING: process.env['CONSUMER_FROM_BEGINNING'] ?? 'false',
    ...(sandboxUrl ? { SENDGRID_API_KEY: SANDBOX_SENDGRID_KEY, SENDGRID_BASE_URL: sandboxUrl } : {}),
    ...(smsSandboxUrl
      ? {
          TWILIO_ACCOUNT_SID: SANDBOX_TWILIO_SID,
          TWILIO_AUTH_TOKEN: SANDBOX_TWILIO_TOKEN,
          TWILIO_BASE_URL: smsSandboxUrl,
        }
      : {}),
    TWILIO_STATUS_CALLBACK_BASE_URL: process.env['TWILIO_STATUS_CALLBACK_BASE_URL'] ?? EDGE_URL,
    ...(crmSandbox ? { HUBSPOT_API_URL: crmSandbox.url, MAILCHIMP_API_URL: crmSandbox.mailchimpUrl } : {}),
    ...(adsSandboxUrl
      ? {
          AD_AUDIENCES_BASE_URL: adsSandboxUrl,
          AD_AUDIENCES_CLIENT_ID: SANDBOX_ADS_CLIENT.id,
          AD_AUDIENCES_CLIENT_SECRET: SANDBOX_ADS_CLIENT.secret,
          AD_AUDIENCE_ACCOUNTS: `${DEMO_WORKSPACE}:demo-ads`,
        }
      : {}),
    // The sandboxes' verification key and auth token, beside any secrets given.
    WEBHOOK_SECRETS: [process.env['WEBHOOK_SECRETS'], ...feedbackSecrets].filter(Boolean).join(','),
  };
  const running: RunningProcess[] = SERVICES.map((s) => spawnService(s.name, s.port, env, logDir));
  const controller = new AbortController();
  const shutdown = async () => {
    console.log('\nstopping services (graceful: in-flight batches finish and commit) ...');
    controller.abort();
    await Promise.all(running.map((s) => stopService(s)));
    await sandbox?.stop();
    await smsSandbox?.stop();
    await adsSandbox?.stop();
    await contentSandboxes.stop();
    await crmSandbox?.stop();
    console.log('services stopped; the stack is still up (npm run stack -- down to stop it).');
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
  try {
    await Promise.all(
      running.map((s) => waitReady(s).then(() => console.log(`  ✔ ${s.name} ready at ${s.url}`))),
    );
  } catch (error) {
    console.error(`✖ ${(error as Error).message}`);
    await Promise.all(running.map((s) => stopService(s, 5_000)));
    process.exit(1);
  }
  let setup: string[];
  try {
    setup = (await setUpDemoWorkspace({ leadsUrl: 'http://127.0.0.1:3001', writeKey: DEMO_WRITE_KEY }))
      .summary;
  } catch (error) {
    // Tracking and reporting still work without it; leads then stay unrouted until rules are PUT.
    setup = [`✖ could not set up the lead pipeline: ${(error as Error).message}`];
  }
  try {
    setup.push(
      ...(await setUpDemoJourneys({ orchestrationUrl: 'http://127.0.0.1:3002', writeKey: DEMO_WRITE_KEY }))
        .summary,
    );
  } catch (error) {
    setup.push(`✖ could not set up the demo journeys: ${(error as Error).message}`);
  }
  let demoContentId: string | null = null;
  try {
    const content = await setUpDemoContent({
      orchestrationUrl: 'http://127.0.0.1:3002',
      writeKey: DEMO_WRITE_KEY,
      sandboxes: contentSandboxes,
    });
    setup.push(...content.summary);
    demoContentId = content.contentId;
  } catch (error) {
    setup.push(`✖ could not set up the demo content: ${(error as Error).message}`);
  }
  if (crmSandbox)
    try {
      setup.push(
        ...(await setUpDemoSync({ syncUrl: 'http://127.0.0.1:3003', writeKey: DEMO_WRITE_KEY })).summary,
      );
    } catch (error) {
      setup.push(`✖ could not connect the sandbox HubSpot portal: ${(error as Error).message}`);
    }
  const auth = `-u ${DEMO_WRITE_KEY}:`;
  const json = "-H 'content-type: application/json'";
  const ada = DEMO_PROSPECTS[0] ?? { email: 'ada.lovelace@brightlane.example', userId: 'prospect-1' };
  console.log(`
Tributary is up in ${((Date.now() - t0) / 1000).toFixed(1)} s — demo traffic is flowing into ${DEMO_WORKSPACE}
(5 calls/s: track + identify, and a lead form every 4 s from ${DEMO_PROSPECTS.length} prospects).
Lead pipeline of ${DEMO_WORKSPACE}: ${setup.join('; ')}.

  Dashboard        ${DASHBOARD_URL}
                   (sign in with the API key ${DEMO_WRITE_KEY}: funnel, attribution, journeys, integration health)
  Tracking API     curl ${auth} ${json} \\
                     -d '{"userId":"ada","event":"Pricing Page Viewed"}' http://127.0.0.1:3000/v1/track
  Lead form        curl ${auth} ${json} \\
                     -d '{"email":"you@copperleaf.example","title":"VP Sales","country":"CA","consents":{"privacy_policy":true}}' \\
                     http://127.0.0.1:3000/v1/leads
  A lead           curl ${auth} http://127.0.0.1:3001/v1/contacts/email:${ada.email}
                   (score + breakdown, enrichment, stage, owner; the same person: /v1/contacts/${ada.userId})
  Accept it        curl ${auth} ${json} -d '{}' http://127.0.0.1:3001/v1/leads/${ada.userId}/accept
  Routing rules    curl ${auth} http://127.0.0.1:3001/v1/routing-rules
  Scoring model    curl ${auth} http://127.0.0.1:3001/v1/scoring-model
  Journeys         curl ${auth} http://127.0.0.1:3002/v1/journeys
                   (welcome-nurture on every new lead, abandoned-cart per cart id; dry run one:
                    curl ${auth} ${json} -d '{"contact":{"stage":"lead","attributes":{"email":"${ada.email}"}}}' \\
                      http://127.0.0.1:3002/v1/journeys/welcome-nurture/dry-run)
  Sent emails      ${sandboxUrl ? `curl ${sandboxUrl}/sandbox/messages   (the sandbox SendGrid; ?to=${ada.email} for one person)` : 'to SendGrid (SENDGRID_API_KEY is set)'}
  Ad audiences     ${adsSandboxUrl ? `curl ${adsSandboxUrl}/sandbox/messages   (hashed members welcome-nurture added to new-leads)` : 'to the ad platform at AD_AUDIENCES_BASE_URL'}
  Feedback         ${sandboxUrl ? `the sandboxes post signed feedback to ${EDGE_URL}/v1/webhooks/{sendgrid,twilio}/${DEMO_WORKSPACE}/…;` : 'point SendGrid’s Event Webhook and Twilio at /v1/webhooks/{sendgrid,twilio}/<workspace>/… (README);'}
                   ${bouncing?.email ?? 'one prospect'}'s address bounces, so it lands on the suppression list:
                   curl ${auth} http://127.0.0.1:3002/v1/suppressions
${
  smsSandboxUrl
    ? `                   a text replying STOP (START lifts it): curl --data-urlencode From=+15551234567 -d Body=STOP ${smsSandboxUrl}/sandbox/inbound
`
    : ''
}  Content          curl ${auth} http://127.0.0.1:3002/v1/content/${demoContentId ?? ''}
                   (in review; approving takes another key with content:approve, never the author's:
                    curl ${auth} ${json} -d '{"name":"reviewer","scopes":["content:approve","content:read"]}' \\
                      http://127.0.0.1:3000/v1/admin/workspaces/${DEMO_WORKSPACE}/keys
                    then POST /v1/content/<id>/approve with it and /publish with ${DEMO_WRITE_KEY});
                   published: curl ${contentSandboxes.wordpressUrl}/sandbox/messages (WordPress),
                   curl ${contentSandboxes.linkedinUrl}/sandbox/messages (LinkedIn)
  CRM sync         curl ${auth} http://127.0.0.1:3003/v1/connections
                   ${crmSandbox ? `(the sandbox HubSpot portal: curl ${crmSandbox.url}/sandbox/messages; a colleague edits a contact there every 20 s,` : '(HUBSPOT_API_URL is set;'}
                   change capture publishes each change on records.changed)
  Golden records   curl ${auth} 'http://127.0.0.1:3003/v1/golden-records?email=ada.lovelace@brightlane.example'
                   (values with provenance; …/<id>/history, …/<id>/conflicts; PATCH …/<id> to set and lock a field)
  Email audience   ${crmSandbox ? `curl ${crmSandbox.mailchimpUrl}/sandbox/messages   (the sandbox Mailchimp audience sync fills and reads back)` : '(MAILCHIMP_API_URL is set)'}
  Reporting API    curl ${auth} http://127.0.0.1:3004/v1/reports/event-counts
  Health           http://127.0.0.1:300{0..4}/health/ready
  Kafka            ${endpoints.kafkaBrokers}
  Schema registry  ${endpoints.schemaRegistryUrl}
  MongoDB wire     ${endpoints.mongoUrl}
  Service logs     .stack/logs/services/<service>.log

Ctrl-C stops the services.`);
  let failures = 0;
  const { sent, failed, leads } = await sendDemoTraffic({
    ingestionUrl: 'http://127.0.0.1:3000',
    writeKey: DEMO_WRITE_KEY,
    leadsUrl: 'http://127.0.0.1:3001',
    ratePerSecond: 3,
    leadEverySeconds: 4,
    durationSeconds: Number(process.env['DEMO_DURATION_SECONDS'] ?? 0),
    signal: controller.signal,
    onSent: (ok, bad) => {
      if ((ok + bad) % 100 === 0) console.log(`demo traffic: ${ok} sent, ${bad} failed`);
    },
    // The first few say why (a missing consent, a service down); after that the counts tell the story.
    onFailure: (path, reason) => {
      if ((failures += 1) <= 5) console.warn(`demo traffic: ${path} failed: ${reason}`);
    },
  });
  console.log(`demo traffic finished: ${sent} sent (${leads} lead forms), ${failed} failed.`);
  if (!controller.signal.aborted) console.log('services keep running (Ctrl-C to stop).');
}

main().catch((error: unknown) => {
  // A StackError's message holds its reasons (each problem, a log's tail); any other error keeps its stack.
  console.error(describeFailure(error));
  process.exit(1);
});
