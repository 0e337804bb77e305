import {
  BadRequestException,
  Catch,
  Controller,
  HttpCode,
  HttpStatus,
  Inject,
  Injectable,
  Post,
  Req,
  UseFilters,
  UseGuards,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Response } from 'express';
import { CurrentPrincipal, RequireScopes, WorkspaceKeyGuard, type Principal } from '@tributary/access';
import { HandlerChecksBody } from '@tributary/runtime';
import { SERVICE_CONFIG } from '@tributary/config';
import type { IngestionConfig } from '../config';
import { parseBatch, parseCall, type CallType } from './segment-calls';
import type { TrackingBody, TrackingRequest } from './tracking-body';
import { TrackingIntake } from './tracking-intake.service';
import { TrackingUnavailableError } from './produce-gate';
import { IngestionScopes } from '../scopes';

/** 503 + Retry-After when Kafka did not take the events, so SDKs back off and retry. */
@Catch(TrackingUnavailableError)
@Injectable()
export class TrackingUnavailableFilter implements ExceptionFilter {
  constructor(@Inject(SERVICE_CONFIG) private readonly config: IngestionConfig) {}
  catch(error: TrackingUnavailableError, host: ArgumentsHost): void {
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(HttpStatus.SERVICE_UNAVAILABLE)
      .setHeader('Retry-After', String(this.config.TRACKING_RETRY_AFTER_SECONDS))
      .json({ error: 'unavailable', problems: [{ field: '(service)', reason: error.message }] });
  }
}

/** The spec's answer (`{ success: true }`) plus the stored event's id. */
type SingleAnswer = { success: true; eventId: string };

function bodyOf(req: TrackingRequest): TrackingBody & { ok: true } {
  const body = req.trackingBody;
  if (!body)
    throw new BadRequestException({
      error: 'invalid_request',
      problems: [{ field: '(body)', reason: 'missing body' }],
    });
  if (!body.ok) throw new BadRequestException({ error: 'invalid_request', problems: body.problems });
  return body;
}

/**
 * Segment-compatible HTTP Tracking API: `POST /v1/{track,identify,page,screen,group,alias,batch}`, write key as
 * Basic user name, Bearer token or body `writeKey`; answers `{ success: true }` once stored.
 */
@Controller('v1')
@UseGuards(WorkspaceKeyGuard)
@UseFilters(TrackingUnavailableFilter)
// parseCall checks each call (in a batch, each item on its own, so one bad item does not refuse the rest).
@HandlerChecksBody()
export class TrackingController {
  constructor(private readonly intake: TrackingIntake) {}

  /**
   * Invalid items do not fail the batch: SDKs drop a batch answered 4xx without retrying, so one bad call would
   * lose every good one with it. Good items go to `tracking.events`, bad ones to `ingestion.rejected` with the
   * item and the reasons, and the 200 lists them (`rejected: [{index, field, reason}]`). Only a batch that is not
   * a batch (bad JSON or gzip, over 500 KB, no `batch` array) is a 400.
   */
  @Post('batch')
  @RequireScopes(IngestionScopes.trackWrite)
  @HttpCode(200)
  async batch(
    @CurrentPrincipal() principal: Principal,
    @Req() req: TrackingRequest,
  ): Promise<{ success: true; rejected?: { index: number | null; field: string; reason: string }[] }> {
    const body = bodyOf(req);
    const parsed = parseBatch(body.json);
    if (!parsed.ok) throw new BadRequestException({ error: 'invalid_request', problems: parsed.problems });
    const outcome = await this.intake.accept(principal, parsed.calls, parsed.rejected, {
      route: '/v1/batch',
      contentType: body.contentType,
      raw: body.raw,
      receivedAt: Date.now(),
    });
    if (outcome.rejected.length === 0) return { success: true };
    return {
      success: true,
      rejected: outcome.rejected.flatMap((r) => r.problems.map((p) => ({ index: r.index, ...p }))),
    };
  }

  @Post('track')
  @RequireScopes(IngestionScopes.trackWrite)
  @HttpCode(200)
  track(@CurrentPrincipal() principal: Principal, @Req() req: TrackingRequest): Promise<SingleAnswer> {
    return this.single('track', principal, req);
  }

  @Post('identify')
  @RequireScopes(IngestionScopes.trackWrite)
  @HttpCode(200)
  identify(@CurrentPrincipal() principal: Principal, @Req() req: TrackingRequest): Promise<SingleAnswer> {
    return this.single('identify', principal, req);
  }

  @Post('page')
  @RequireScopes(IngestionScopes.trackWrite)
  @HttpCode(200)
  page(@CurrentPrincipal() principal: Principal, @Req() req: TrackingRequest): Promise<SingleAnswer> {
    return this.single('page', principal, req);
  }

  @Post('screen')
  @RequireScopes(IngestionScopes.trackWrite)
  @HttpCode(200)
  screen(@CurrentPrincipal() principal: Principal, @Req() req: TrackingRequest): Promise<SingleAnswer> {
    return this.single('screen', principal, req);
  }

  @Post('group')
  @RequireScopes(IngestionScopes.trackWrite)
  @HttpCode(200)
  group(@CurrentPrincipal() principal: Principal, @Req() req: TrackingRequest): Promise<SingleAnswer> {
    return this.single('group', principal, req);
  }

  @Post('alias')
  @RequireScopes(IngestionScopes.trackWrite)
  @HttpCode(200)
  alias(@CurrentPrincipal() principal: Principal, @Req() req: TrackingRequest): Promise<SingleAnswer> {
    return this.single('alias', principal, req);
  }

  /** One call: a 4xx names every problem; an event Avro refuses is kept on `ingestion.rejected` and answered 400. */
  private async single(type: CallType, principal: Principal, req: TrackingRequest): Promise<SingleAnswer> {
    const receivedAt = Date.now();
    const body = bodyOf(req);
    const parsed = parseCall(body.json, type);
    if (!parsed.ok) throw new BadRequestException({ error: 'invalid_request', problems: parsed.problems });
    const outcome = await this.intake.accept(principal, [{ index: null, call: parsed.call }], [], {
      route: `/v1/${type}`,
      contentType: body.contentType,
      raw: body.raw,
      receivedAt,
    });
    const rejected = outcome.rejected[0];
    if (rejected) throw new BadRequestException({ error: 'invalid_event', problems: rejected.problems });
    return { success: true, eventId: outcome.eventIds[0] ?? '' };
  }
}
