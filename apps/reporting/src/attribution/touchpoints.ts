import type { TrackingEvent } from '@tributary/contracts';

/**
 * A marketing touch read from a tracking call: the campaign in its UTM parameters (Segment's `context.campaign`, or
 * `utm_*` in the page URL), else the site that referred the visitor. A call with neither is not a touch (direct).
 */
export interface Touch {
  /** The channel attribution credits, e.g. `google / cpc`, `newsletter / email`, `referral / news.ycombinator.com`. */
  channel: string;
  source: string;
  medium: string;
  campaign: string;
}

const SEARCH_ENGINES = /(^|\.)(google|bing|duckduckgo|yahoo|baidu|yandex|ecosia)\./;
const SOCIAL_SITES =
  /(^|\.)(facebook|instagram|linkedin|twitter|x|t|reddit|youtube|tiktok|pinterest)\.(com|co)$/;

/** The touch of a tracking call, or null when it came direct (or from the site itself). */
export function touchOf(event: Pick<TrackingEvent, 'contextJson' | 'propertiesJson'>): Touch | null {
  const context = parseObject(event.contextJson);
  const properties = parseObject(event.propertiesJson);
  const page = asObject(context['page']);
  const campaign = asObject(context['campaign']);
  const url = stringOf(page['url']) ?? stringOf(properties['url']);
  const query = url ? searchParamsOf(url) : null;
  const utm = (name: string, segmentName: string) =>
    stringOf(campaign[segmentName]) ?? query?.get(`utm_${name}`)?.trim() ?? undefined;

  const source = utm('source', 'source');
  if (source) {
    const medium = utm('medium', 'medium') ?? '(none)';
    return {
      channel: `${source.toLowerCase()} / ${medium.toLowerCase()}`,
      source: source.toLowerCase(),
      medium: medium.toLowerCase(),
      campaign: utm('campaign', 'name') ?? '(not set)',
    };
  }
  const referrer = stringOf(page['referrer']) ?? stringOf(properties['referrer']);
  const referrerHost = referrer ? hostOf(referrer) : null;
  const ownHost = url ? hostOf(url) : null;
  if (!referrerHost || referrerHost === ownHost) return null;
  const medium = SEARCH_ENGINES.test(referrerHost)
    ? 'organic'
    : SOCIAL_SITES.test(referrerHost)
      ? 'social'
      : 'referral';
  return { channel: `${referrerHost} / ${medium}`, source: referrerHost, medium, campaign: '(not set)' };
}

function parseObject(json: string | null | undefined): Record<string, unknown> {
  if (!json) return {};
  try {
    return asObject(JSON.parse(json));
  } catch {
    return {};
  }
}

function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function searchParamsOf(url: string): URLSearchParams | null {
  try {
    return new URL(url).searchParams;
  } catch {
    return null;
  }
}

/** A URL's host without `www.`, lower case; null when it is not an absolute http(s) URL. */
function hostOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
    return parsed.hostname.toLowerCase().replace(/^www\./, '');
  } catch {
    return null;
  }
}
