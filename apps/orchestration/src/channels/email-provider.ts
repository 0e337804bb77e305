import { Client } from '@sendgrid/client';
import { MailService, type MailDataRequired } from '@sendgrid/mail';
import { Coalescer } from '../engine/coalescer';

/** One email as a journey step sends it. */
export interface OutgoingEmail {
  to: string;
  from: string;
  subject: string;
  html: string;
  text?: string;
  headers: Record<string, string>;
  /** Carried back by the provider's event webhook: how a bounce or click finds its message. */
  customArgs: Record<string, string>;
  categories: string[];
}

/**
 * What a provider call came to: taken (with its id), or refused, whether trying again may help, and whether the
 * provider may have taken the message anyway (no answer, or one that could not be read).
 */
export type ProviderResult =
  | { ok: true; providerMessageId: string | null }
  | {
      ok: false;
      retryable: boolean;
      retryAfterMs?: number;
      reason: string;
      maybeTaken?: boolean;
      /** The provider said "slow down" (429): its budget pauses; not a failure of the provider. */
      rateLimited?: boolean;
      /** Not sent to the provider at all (its breaker is open, the shared budget is spent): no attempt spent. */
      deferred?: boolean;
    };

/** The custom arg every email of one claim of the engine carries, so the provider can say which of them it took. */
export const CLAIM_TAG_ARG = 'tributary_claim';

/** What the provider shows it took under a claim tag, or why it cannot say (now, or at all). */
export type SentLookup =
  | { ok: true; sent: { to: string; subject: string; providerMessageId: string }[] }
  | { ok: false; retryAfterMs?: number; reason: string };

export interface EmailProvider {
  readonly name: string;
  send(email: OutgoingEmail): Promise<ProviderResult>;
  /** The emails taken with `customArgs[CLAIM_TAG_ARG] = tag`; absent where the provider cannot be asked. */
  sentWith?(tag: string): Promise<SentLookup>;
}

/** Without a key nothing can be sent: every email step records why instead. */
export class UnconfiguredEmail implements EmailProvider {
  readonly name = 'none';
  send(): Promise<ProviderResult> {
    return Promise.resolve({ ok: false, retryable: false, reason: 'email-provider-not-configured' });
  }
}

interface SendGridError {
  code?: number | string;
  message?: string;
  response?: {
    headers?: Record<string, string>;
    body?: { errors?: { message?: string; field?: string | null }[] };
  };
}

/** Retry-After in seconds or an HTTP date, as milliseconds from now. */
export function retryAfterMs(header: string | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** SendGrid takes at most this many personalizations in one Mail Send request. */
const MAX_PERSONALIZATIONS = 1_000;
/** How long a send waits for others of the same body to go with it. */
const BATCH_WINDOW_MS = 5;

/** A Mail Send failure as the engine reads it: no answer (maybe taken), slow down / failing for now, or refused. */
function failureOf(error: unknown): ProviderResult {
  const failure = error as SendGridError;
  const status = typeof failure.code === 'number' ? failure.code : undefined;
  if (status === undefined)
    // No answer (refused, reset, timed out): the message may or may not have gone; the caller retries.
    return {
      ok: false,
      retryable: true,
      reason: `no-answer: ${failure.message ?? String(error)}`,
      maybeTaken: true,
    };
  const detail = failure.response?.body?.errors
    ?.map((e) => (e.field ? `${e.field}: ${e.message ?? ''}` : (e.message ?? '')))
    .join('; ');
  const reason = `sendgrid ${status}${detail ? `: ${detail}` : ''}`;
  if (status === 429 || status >= 500)
    return {
      ok: false,
      retryable: true,
      retryAfterMs: retryAfterMs(failure.response?.headers?.['retry-after']),
      reason,
      ...(status === 429 ? { rateLimited: true } : {}),
    };
  return { ok: false, retryable: false, reason };
}

/**
 * SendGrid's v3 Mail Send through its official SDK (`@sendgrid/mail`), at `baseUrl`: the real API, the sandbox
 * `npm start` runs, or a test's fake. SendGrid has no idempotency key for mail send, so the engine's record before
 * the call is what keeps a message from going twice (see JourneyRunner).
 */
export class SendGridEmail implements EmailProvider {
  readonly name = 'sendgrid';
  private readonly mail: MailService;
  private readonly client: Client;
  // A claim's sends start together: those of one body (most journeys' steps, whose templates do not vary the body)
  // go as one request, a personalization each. 500 emails were 500 requests, a fifth of the engine's CPU.
  private readonly together = new Coalescer<OutgoingEmail, ProviderResult>(
    (emails) => this.sendGrouped(emails),
    { windowMs: BATCH_WINDOW_MS, maxItems: MAX_PERSONALIZATIONS },
  );

  constructor(options: { apiKey: string; baseUrl: string; timeoutMs: number }) {
    const client = new Client();
    this.client = client;
    client.setApiKey(options.apiKey);
    // The SDK hands its default request to axios, which honours `timeout`, though the SDK's type does not list it.
    const defaults = { baseUrl: options.baseUrl, timeout: options.timeoutMs };
    client.setDefaultRequest(defaults as unknown as Parameters<Client['setDefaultRequest']>[0]);
    this.mail = new MailService();
    this.mail.setClient(client);
  }

  send(email: OutgoingEmail): Promise<ProviderResult> {
    return this.together.add(email);
  }

  /** The emails of one window, grouped by body; each group one request. Results in the order of `emails`. */
  private async sendGrouped(emails: OutgoingEmail[]): Promise<ProviderResult[]> {
    const groups = new Map<string, number[]>();
    emails.forEach((email, i) => {
      const body = JSON.stringify([email.from, email.html, email.text ?? null, email.categories]);
      const group = groups.get(body);
      if (group) group.push(i);
      else groups.set(body, [i]);
    });
    const results: ProviderResult[] = [];
    await Promise.all(
      [...groups.values()].map(async (indexes) => {
        const group = indexes.map((i) => emails[i] as OutgoingEmail);
        const answers = await this.sendTogether(group);
        indexes.forEach((i, k) => (results[i] = answers[k] as ProviderResult));
      }),
    );
    return results;
  }

  /**
   * Emails of one body as one Mail Send request: the shared from, content and categories once, each email's
   * recipient, subject, headers (its own List-Unsubscribe) and custom args (its message key) in a personalization.
   * SendGrid answers for the request, so every email gets that answer; a refusal (400) of a request of several goes
   * back as single sends, so that one bad address refuses only its own email.
   */
  private async sendTogether(emails: OutgoingEmail[]): Promise<ProviderResult[]> {
    const [first] = emails;
    if (!first) return [];
    const request: MailDataRequired = {
      from: first.from,
      html: first.html,
      ...(first.text ? { text: first.text } : {}),
      categories: first.categories,
      personalizations: emails.map((email) => ({
        to: email.to,
        subject: email.subject,
        headers: email.headers,
        customArgs: email.customArgs,
      })),
    };
    try {
      const [response] = await this.mail.send(request);
      const headers = response.headers as Record<string, string | undefined>;
      // One X-Message-Id per request; each recipient's event and Activity ids start with it.
      const providerMessageId = headers['x-message-id'] ?? null;
      return emails.map(() => ({ ok: true, providerMessageId }));
    } catch (error) {
      const failure = failureOf(error);
      if (emails.length > 1 && !failure.ok && !failure.retryable)
        return Promise.all(
          emails.map(async (email) => (await this.sendTogether([email]))[0] as ProviderResult),
        );
      return emails.map(() => failure);
    }
  }

  /**
   * The Email Activity API (`GET /v3/messages`, an add-on; 6 requests a minute) filtered on the claim tag: up to
   * 1,000 emails, the most a claim sends at once. Without the add-on SendGrid answers 403: the engine then resends.
   */
  async sentWith(tag: string): Promise<SentLookup> {
    try {
      const [response] = await this.client.request({
        method: 'GET',
        url: '/v3/messages',
        qs: { query: `unique_args['${CLAIM_TAG_ARG}']="${tag.replace(/["\\]/g, '')}"`, limit: 1000 },
      });
      const messages = (
        response.body as { messages?: { to_email?: string; subject?: string; msg_id?: string }[] }
      ).messages;
      return {
        ok: true,
        sent: (messages ?? []).map((m) => ({
          to: (m.to_email ?? '').toLowerCase(),
          subject: m.subject ?? '',
          // msg_id is the X-Message-Id of the send, then a suffix per recipient: the send's id, as a send records.
          providerMessageId: (m.msg_id ?? '').split('.')[0] ?? '',
        })),
      };
    } catch (error) {
      const failure = error as SendGridError;
      const status = typeof failure.code === 'number' ? failure.code : undefined;
      return {
        ok: false,
        reason: `sendgrid activity ${status ?? 'no answer'}: ${failure.message ?? String(error)}`,
        ...(status === 429
          ? { retryAfterMs: retryAfterMs(failure.response?.headers?.['retry-after']) ?? 10_000 }
          : {}),
      };
    }
  }
}
