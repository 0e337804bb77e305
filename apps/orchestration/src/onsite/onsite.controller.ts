import { BadRequestException, Controller, Get, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { OnsiteSlots, type ShownSlot, type Visitor } from './onsite-slots';

/**
 * The scope of the public write key browsers already hold for the tracking API (ingestion's `track:write`): a site
 * reads its visitor's slots with the key it tracks with, never with an API key that can change journeys.
 */
const PUBLIC_WRITE_KEY_SCOPE = 'track:write';
/** How long a browser may reuse an answer: short, so a step just reached shows within a page view or two. */
export const ONSITE_MAX_AGE_SECONDS = 30;
const SLOT = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ID_MAX = 200;

function invalid(field: string, reason: string): BadRequestException {
  return new BadRequestException({ error: 'invalid_request', field, reason });
}

function visitorOf(query: Record<string, unknown>): Visitor {
  const userId = query['userId'];
  const anonymousId = query['anonymousId'];
  for (const [field, value] of [
    ['userId', userId],
    ['anonymousId', anonymousId],
  ] as const)
    if (value !== undefined && (typeof value !== 'string' || value === '' || value.length > ID_MAX))
      throw invalid(field, `one non-empty value of at most ${ID_MAX} characters`);
  if (typeof userId === 'string')
    return typeof anonymousId === 'string' ? { userId, anonymousId } : { userId };
  if (typeof anonymousId === 'string') return { anonymousId };
  throw invalid('userId', 'name the visitor with userId or anonymousId');
}

/** Whether an If-None-Match header names this entity tag (weak comparison, as RFC 9110 asks for GET). */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = (tag: string): string => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => bare(tag) === bare(etag));
}

/**
 * CORS for the on-site API, before routing so that preflights (which carry no key) and refusals (401, 400) are
 * readable by the page too: any origin may ask, as the tracking API allows, since the write key is what admits it.
 */
export function allowOnsiteOrigins(app: INestApplication): void {
  app.use('/v1/onsite', (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', 'ETag');
    }
    res.vary('Origin');
    if (req.method !== 'OPTIONS') return next();
    res.setHeader('Access-Control-Allow-Methods', 'GET, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, If-None-Match');
    res.setHeader('Access-Control-Max-Age', '600');
    res.status(204).end();
  });
}

/**
 * What a website shows a visitor in a slot: content a journey's onsite step stored for that contact, answered 204
 * when there is none (or it expired). The workspace is the key's, never the request's.
 */
@Controller('v1/onsite')
@UseGuards(WorkspaceKeyGuard)
export class OnsiteController {
  constructor(private readonly slots: OnsiteSlots) {}

  @Get(':slot')
  @RequireScopes(PUBLIC_WRITE_KEY_SCOPE)
  async read(
    @CurrentWorkspace() workspaceId: string,
    @Param('slot') slot: string,
    @Query() query: Record<string, unknown>,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Omit<ShownSlot, 'etag'> | undefined> {
    if (!SLOT.test(slot)) throw invalid('slot', 'lower-case letters, digits, - and _ (at most 64)');
    const visitor = visitorOf(query);
    const now = new Date();
    const shown = await this.slots.read(workspaceId, slot, visitor, now);
    res.vary('Authorization');
    if (!shown) {
      // Not cached: content a journey stores a moment later should show on the next page.
      res.setHeader('Cache-Control', 'private, no-store');
      res.status(204);
      return undefined;
    }
    const left = shown.expiresAt
      ? Math.floor((Date.parse(shown.expiresAt) - now.getTime()) / 1_000)
      : ONSITE_MAX_AGE_SECONDS;
    res.setHeader('Cache-Control', `private, max-age=${Math.max(0, Math.min(ONSITE_MAX_AGE_SECONDS, left))}`);
    res.setHeader('ETag', shown.etag);
    if (matchesEtag(req.headers['if-none-match'], shown.etag)) {
      res.status(304);
      return undefined;
    }
    return { slot: shown.slot, content: shown.content, expiresAt: shown.expiresAt };
  }
}
