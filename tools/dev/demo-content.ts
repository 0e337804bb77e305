/**
 * The content publishing demo of `npm start`: sandbox WordPress and LinkedIn APIs that record what is published
 * (unless real ones are named), the demo workspace's content destinations pointed at them (its newsletter at its
 * consented contacts), and a demo blog post waiting in review. Written through orchestration's API like a customer's
 * admin would, each only while the workspace has none, so what was changed while exploring survives a restart.
 */
import { FakeLinkedIn, FakeWordPress } from '@tributary/sandbox';

/** Where the sandboxes listen (SANDBOX_WORDPRESS_PORT, SANDBOX_LINKEDIN_PORT move them). */
const SANDBOX_WORDPRESS_PORT = Number(process.env['SANDBOX_WORDPRESS_PORT'] ?? 4020);
const SANDBOX_LINKEDIN_PORT = Number(process.env['SANDBOX_LINKEDIN_PORT'] ?? 4021);
/** The sandboxes take any credentials; these only show the shape of real ones. */
const SANDBOX_WORDPRESS_USER = 'demo-editor';
const SANDBOX_WORDPRESS_APP_PASSWORD = 'sand boxa pppa sswo rd00 demo';
const SANDBOX_LINKEDIN_TOKEN = 'AQX-sandbox-linkedin-token';
const DEMO_LINKEDIN_PAGE = 'urn:li:organization:1000001';

export interface ContentSandboxes {
  wordpressUrl: string;
  linkedinUrl: string;
  stop(): Promise<void>;
}

/** Starts the sandbox WordPress and LinkedIn APIs. */
export async function startContentSandboxes(): Promise<ContentSandboxes> {
  const wordpress = new FakeWordPress();
  const linkedin = new FakeLinkedIn();
  const [wordpressUrl, linkedinUrl] = await Promise.all([
    wordpress.start(SANDBOX_WORDPRESS_PORT),
    linkedin.start(SANDBOX_LINKEDIN_PORT),
  ]);
  return {
    wordpressUrl,
    linkedinUrl,
    stop: async () => {
      await Promise.all([wordpress.stop(), linkedin.stop()]);
    },
  };
}

async function call(
  baseUrl: string,
  auth: string,
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : {}) as Record<string, unknown>;
}

/**
 * Points the workspace's content destinations at the sandboxes where it has none, and writes a demo blog post (to
 * WordPress, LinkedIn and the newsletter) and submits it for review when the workspace has no content yet.
 */
export async function setUpDemoContent(options: {
  orchestrationUrl: string;
  writeKey: string;
  sandboxes: ContentSandboxes;
}): Promise<{ summary: string[]; contentId: string | null }> {
  const auth = `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`;
  const base = options.orchestrationUrl;
  const summary: string[] = [];
  const listed = (await call(base, auth, 'GET', '/v1/content-destinations'))['destinations'] as {
    destination: string;
  }[];
  const have = new Set(listed.map((d) => d.destination));
  const wanted: Record<string, unknown> = {
    cms: {
      baseUrl: options.sandboxes.wordpressUrl,
      username: SANDBOX_WORDPRESS_USER,
      applicationPassword: SANDBOX_WORDPRESS_APP_PASSWORD,
    },
    social: {
      baseUrl: options.sandboxes.linkedinUrl,
      author: DEMO_LINKEDIN_PAGE,
      accessToken: SANDBOX_LINKEDIN_TOKEN,
    },
    newsletter: { from: 'news@brightlane.example', fromName: 'Brightlane', audience: 'consented_contacts' },
  };
  const written = Object.keys(wanted).filter((name) => !have.has(name));
  for (const name of written) await call(base, auth, 'PUT', `/v1/content-destinations/${name}`, wanted[name]);
  summary.push(
    written.length > 0
      ? `content destinations ${written.join(', ')} pointed at the sandboxes`
      : 'content destinations kept',
  );

  const [existing] = (await call(base, auth, 'GET', '/v1/content?limit=1'))['items'] as {
    contentId: string;
  }[];
  if (existing) {
    summary.push('content kept (the workspace already had some)');
    return { summary, contentId: existing.contentId };
  }
  const created = await call(base, auth, 'POST', '/v1/content', {
    kind: 'blog_post',
    title: 'Five ways to score leads that sales will trust',
    excerpt: 'Fit, engagement and a clear threshold: what makes an MQL worth a call.',
    body:
      '<p>Scores sales ignore are worse than none. Start from fit (title, size, industry), add engagement that ' +
      'fades, and agree on one threshold with the team that calls.</p>',
    destinations: ['cms', 'social', 'newsletter'],
  });
  const contentId = String(created['contentId']);
  await call(base, auth, 'POST', `/v1/content/${contentId}/submit`, {});
  summary.push(`blog post ${contentId} written and waiting in review`);
  return { summary, contentId };
}
