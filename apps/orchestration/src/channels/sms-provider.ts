import twilio from 'twilio';
import type { MessageInstance } from 'twilio/lib/rest/api/v2010/account/message';
import { RedirectingRequestClient } from '@tributary/sandbox';
import { retryAfterMs, type ProviderResult } from './email-provider';

/** One text message as a journey step sends it. */
export interface OutgoingSms {
  to: string;
  body: string;
  /** The message key: Twilio's idempotency header where honoured, and the status callback's way back. */
  key: string;
  /** Whose text it is: the status callback goes to that workspace's webhook URL at the edge. */
  workspaceId?: string;
}

/**
 * Where Twilio reports a text's status: the edge's webhook of its workspace, the message key in the query (Twilio
 * signs the whole URL, so the key comes back as it was given).
 */
export function statusCallbackUrl(edgeBaseUrl: string, workspaceId: string, key: string): string {
  const base = edgeBaseUrl.replace(/\/+$/, '');
  return `${base}/v1/webhooks/twilio/${encodeURIComponent(workspaceId)}/status?messageKey=${encodeURIComponent(key)}`;
}

/** The texts a provider took for a number since a time, newest first; or why it cannot say now. */
export type SentTextLookup =
  | { ok: true; sent: { body: string; providerMessageId: string }[] }
  | { ok: false; retryAfterMs?: number; reason: string };

export interface SmsProvider {
  readonly name: string;
  send(sms: OutgoingSms): Promise<ProviderResult>;
  /** The texts taken for `to` since `since`; absent where the provider cannot be asked. */
  sentTo?(to: string, since: Date): Promise<SentTextLookup>;
}

/** Without credentials nothing can be sent: every SMS step records why instead. */
export class UnconfiguredSms implements SmsProvider {
  readonly name = 'none';
  send(): Promise<ProviderResult> {
    return Promise.resolve({ ok: false, retryable: false, reason: 'sms-provider-not-configured' });
  }
}

const TWILIO_API = 'https://api.twilio.com';
/** A lookup reads at most this many pages of a number's texts (newest first) before it gives up on older ones. */
const LOOKUP_PAGES = 5;
const LOOKUP_PAGE_SIZE = 100;

interface TwilioError {
  status?: number;
  code?: number;
  message?: string;
  /** Set on a transport error: no answer, or one cut off after its status line (`status` is then that line's). */
  isAxiosError?: boolean;
}

/** Twilio's own error answer (a RestException), not a failure to hear one. */
function answered(failure: TwilioError): failure is TwilioError & { status: number } {
  return failure.status !== undefined && failure.isAxiosError !== true;
}

/**
 * Twilio's Messages API through its official SDK; at `baseUrl` when it is not Twilio's own (the sandbox `npm start`
 * runs, a test's fake). Each create carries `I-Twilio-Idempotency-Token` = the message key: Twilio documents that
 * header for the webhooks it sends, not for creating messages, so the engine's record before the call stays what
 * keeps a text from going twice (the sandbox honours the header).
 */
export class TwilioSms implements SmsProvider {
  readonly name = 'twilio';
  /** Twilio's own API: one client for every send. Elsewhere a client per send carries that send's header. */
  private readonly direct: twilio.Twilio | undefined;

  constructor(
    private readonly options: {
      accountSid: string;
      authToken: string;
      from: string;
      baseUrl: string;
      timeoutMs: number;
      /** The edge's public URL (ingestion): set, every text carries a StatusCallback there. */
      statusCallbackBaseUrl?: string;
    },
  ) {
    this.direct =
      options.baseUrl.replace(/\/+$/, '') === TWILIO_API
        ? twilio(options.accountSid, options.authToken, {
            httpClient: new twilio.RequestClient({ timeout: options.timeoutMs }),
          })
        : undefined;
  }

  /**
   * The texts from our number to `to` created since `since`, from Twilio's Messages list (newest first, paged). A
   * message resource carries nothing of ours, so the caller matches on the body: the one way to learn whether a
   * create whose answer was lost went out.
   */
  async sentTo(to: string, since: Date): Promise<SentTextLookup> {
    const client =
      this.direct ??
      twilio(this.options.accountSid, this.options.authToken, {
        httpClient: new RedirectingRequestClient(this.options.baseUrl),
      });
    const sent: { body: string; providerMessageId: string }[] = [];
    try {
      let page: { instances: MessageInstance[]; nextPage(): Promise<unknown> | undefined } =
        await client.messages.page({ to, from: this.options.from, pageSize: LOOKUP_PAGE_SIZE });
      for (let pages = 1; ; pages += 1) {
        for (const message of page.instances) {
          if (message.dateCreated < since) return { ok: true, sent };
          sent.push({ body: message.body, providerMessageId: message.sid });
        }
        if (pages >= LOOKUP_PAGES) return { ok: true, sent };
        const next = (await page.nextPage()) as typeof page | undefined;
        if (!next) return { ok: true, sent };
        page = next;
      }
    } catch (error) {
      const failure = error as TwilioError;
      const last = (client.httpClient as { lastResponse?: { headers?: Record<string, string> } })
        .lastResponse;
      // Unanswered, rate-limited or failing for now: ask again later rather than text again blind.
      const askLater = !answered(failure) || failure.status === 429 || failure.status >= 500;
      return {
        ok: false,
        reason: `twilio ${answered(failure) ? failure.status : 'no answer'}: ${failure.message ?? String(error)}`,
        ...(askLater ? { retryAfterMs: retryAfterMs(last?.headers?.['retry-after']) ?? 1_000 } : {}),
      };
    }
  }

  async send(sms: OutgoingSms): Promise<ProviderResult> {
    const headers = { 'I-Twilio-Idempotency-Token': sms.key };
    const client =
      this.direct ??
      twilio(this.options.accountSid, this.options.authToken, {
        httpClient: new RedirectingRequestClient(this.options.baseUrl, headers),
      });
    try {
      const base = this.options.statusCallbackBaseUrl;
      const statusCallback =
        base && sms.workspaceId ? statusCallbackUrl(base, sms.workspaceId, sms.key) : undefined;
      const message = await client.messages.create({
        to: sms.to,
        from: this.options.from,
        body: sms.body,
        ...(statusCallback ? { statusCallback } : {}),
      });
      return { ok: true, providerMessageId: message.sid };
    } catch (error) {
      const failure = error as TwilioError;
      if (!answered(failure))
        return {
          ok: false,
          retryable: true,
          reason: `no-answer: ${failure.message ?? String(error)}`,
          maybeTaken: true,
        };
      const reason = `twilio ${failure.status}${failure.code ? ` (${failure.code})` : ''}: ${failure.message ?? ''}`;
      if (failure.status === 429 || failure.status >= 500) {
        // The SDK keeps only its client's last response: Retry-After is read there (shared client: the newest one).
        const last = (client.httpClient as { lastResponse?: { headers?: Record<string, string> } })
          .lastResponse;
        return {
          ok: false,
          retryable: true,
          retryAfterMs: retryAfterMs(last?.headers?.['retry-after']),
          reason,
          ...(failure.status === 429 ? { rateLimited: true } : {}),
        };
      }
      return { ok: false, retryable: false, reason };
    }
  }
}
