import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';

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

/** What a provider call came to: taken (with its id), or refused, and whether trying again may help. */
export type ProviderResult =
  | { ok: true; providerMessageId: string | null }
  | { ok: false; retryable: boolean; retryAfterMs?: number; reason: string };

export interface EmailProvider {
  readonly name: string;
  send(email: OutgoingEmail): Promise<ProviderResult>;
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

/**
 * SendGrid's v3 Mail Send through its official SDK (`@sendgrid/mail`), at `baseUrl`: the real API, the sandbox
 * `npm start` runs, or a test's fake. SendGrid has no idempotency key for mail send, so the engine's record before
 * the call is what keeps a message from going twice (see JourneyRunner).
 */
export class SendGridEmail implements EmailProvider {
  readonly name = 'sendgrid';
  private readonly mail: MailService;

  constructor(options: { apiKey: string; baseUrl: string; timeoutMs: number }) {
    const client = new Client();
    client.setApiKey(options.apiKey);
    // The SDK hands its default request to axios, which honours `timeout`, though the SDK's type does not list it.
    const defaults = { baseUrl: options.baseUrl, timeout: options.timeoutMs };
    client.setDefaultRequest(defaults as unknown as Parameters<Client['setDefaultRequest']>[0]);
    this.mail = new MailService();
    this.mail.setClient(client);
  }

  async send(email: OutgoingEmail): Promise<ProviderResult> {
    try {
      const [response] = await this.mail.send({
        to: email.to,
        from: email.from,
        subject: email.subject,
        html: email.html,
        ...(email.text ? { text: email.text } : {}),
        headers: email.headers,
        customArgs: email.customArgs,
        categories: email.categories,
      });
      const headers = response.headers as Record<string, string | undefined>;
      return { ok: true, providerMessageId: headers['x-message-id'] ?? null };
    } catch (error) {
      const failure = error as SendGridError;
      const status = typeof failure.code === 'number' ? failure.code : undefined;
      if (status === undefined)
        // No answer (refused, reset, timed out): the message may or may not have gone; the caller retries.
        return { ok: false, retryable: true, reason: `no-answer: ${failure.message ?? String(error)}` };
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
        };
      return { ok: false, retryable: false, reason };
    }
  }
}
