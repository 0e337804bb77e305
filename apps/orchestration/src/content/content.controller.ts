import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  ForbiddenException,
  Get,
  HttpCode,
  HttpException,
  HttpStatus,
  NotFoundException,
  Param,
  Post,
  Put,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import type { Response } from 'express';
import { randomUUID } from 'node:crypto';
import {
  CurrentPrincipal,
  CurrentWorkspace,
  RequireAnyScope,
  RequireScopes,
  WorkspaceKeyGuard,
  type Principal,
} from '@tributary/access';
import { currentRequestId } from '@tributary/observability';
import { checkedParam, validRequest, type FieldProblem } from '@tributary/runtime';
import { z } from 'zod';
import { OrchestrationScopes } from '../scopes';
import { ContentItems, ContentNotFoundError, ContentRefusedError } from './content-items';
import { ContentPublisher } from './content-publisher.service';
import {
  CONTENT_KINDS,
  CONTENT_STATUSES,
  DEFAULT_DESTINATIONS,
  DESTINATION_NAMES,
  DESTINATIONS_BY_KIND,
  type ContentKind,
  type DestinationName,
  type DestinationState,
} from './content-workflow';
import type { ContentAuditDoc, ContentCommentDoc, ContentItemDoc, ContentVersionDoc } from './content.models';
import { DestinationSettings, type DestinationSettingsView } from './destination-settings';

const READ_SCOPES = [
  OrchestrationScopes.contentRead,
  OrchestrationScopes.contentWrite,
  OrchestrationScopes.contentApprove,
];
/** Scheduling, publishing and commenting: the writer or the approver (only approved content goes out). */
const ACT_SCOPES = [OrchestrationScopes.contentWrite, OrchestrationScopes.contentApprove];
const CONTENT_ID = /^c_[0-9a-f]{16}$/;
/** LinkedIn's commentary limit: a social post's body must fit it. */
const MAX_SOCIAL_BODY = 2_800;
/** How far ahead a publish may be scheduled. */
const MAX_SCHEDULE_AHEAD_MS = 366 * 24 * 3600 * 1000;

const draftFields = {
  title: z.string().trim().min(1).max(300),
  body: z.string().min(1).max(500_000),
  excerpt: z.string().max(2_000).nullable().optional(),
  destinations: z.array(z.enum(DESTINATION_NAMES)).min(1).max(DESTINATION_NAMES.length).optional(),
};

/** Field problems of a draft that depend on its kind: where it may go, a social post's length. */
function kindProblems(
  kind: ContentKind,
  draft: { body: string; destinations?: readonly DestinationName[] | undefined },
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  draft.destinations?.forEach((name, i) => {
    if (!DESTINATIONS_BY_KIND[kind].includes(name))
      problems.push({
        field: `destinations[${i}]`,
        reason: `a ${kind} goes to ${DESTINATIONS_BY_KIND[kind].join(' or ')}, not ${name}`,
      });
    else if (draft.destinations?.indexOf(name) !== i)
      problems.push({ field: `destinations[${i}]`, reason: `${name} is named twice` });
  });
  if (kind === 'social_post' && draft.body.length > MAX_SOCIAL_BODY)
    problems.push({
      field: 'body',
      reason: `a social post is at most ${MAX_SOCIAL_BODY} characters (it has ${draft.body.length})`,
    });
  return problems;
}

function requireFitting(kind: ContentKind, draft: Parameters<typeof kindProblems>[1]): void {
  const problems = kindProblems(kind, draft);
  if (problems.length > 0) throw new BadRequestException({ error: 'invalid_request', errors: problems });
}

const createRequest = z.object({ kind: z.enum(CONTENT_KINDS), ...draftFields }).strict();
const editRequest = z.object(draftFields).strict();
const requestChangesRequest = z.object({ reason: z.string().trim().min(1).max(10_000) }).strict();
const commentRequest = z.object({ body: z.string().trim().min(1).max(10_000) }).strict();
const scheduleRequest = z
  .object({
    publishAt: z
      .string()
      .datetime({
        offset: true,
        message: 'must be an ISO 8601 time with its offset, e.g. 2026-05-01T09:00:00Z',
      })
      .transform((text) => new Date(text)),
  })
  .strict();
const emptyRequest = z.object({}).strict();
const listQuery = z
  .object({
    status: z.enum(CONTENT_STATUSES).optional(),
    kind: z.enum(CONTENT_KINDS).optional(),
    limit: z.coerce.number().int().min(1).max(200).optional(),
  })
  .strict();

/** An item as the API shows it (no lease, outbox or revision). */
export interface ContentItemView {
  contentId: string;
  kind: ContentKind;
  status: string;
  title: string;
  latestVersion: number;
  approvedVersion: number | null;
  approvedBy: string | null;
  publishedVersion: number | null;
  authors: string[];
  createdBy: string;
  publishAt: Date | null;
  destinations: DestinationState[];
  createdAt: Date;
  updatedAt: Date;
}

function viewOf(item: ContentItemDoc): ContentItemView {
  return {
    contentId: item.contentId,
    kind: item.kind,
    status: item.status,
    title: item.title,
    latestVersion: item.latestVersion,
    approvedVersion: item.approvedVersion,
    approvedBy: item.approvedBy,
    publishedVersion: item.publishedVersion,
    authors: item.authors,
    createdBy: item.createdBy,
    publishAt: item.publishAt,
    destinations: item.destinations,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
  };
}

function versionView({
  _id,
  workspaceId: _ws,
  ...version
}: ContentVersionDoc): Omit<ContentVersionDoc, '_id' | 'workspaceId'> {
  return version;
}

/** A body or query, an absent one read as `{}`. */
function parsed<S extends z.ZodTypeAny>(schema: S, body: unknown, shape: string): z.output<S> {
  return validRequest(schema, body ?? {}, shape);
}

function checkedId(contentId: string): string {
  return checkedParam(
    contentId,
    CONTENT_ID,
    'contentId',
    'a content id as POST /v1/content answered it, e.g. c_0123456789abcdef',
  );
}

/** Workflow refusals as API answers: 404 unknown, 409 with the current status, 403 for a self-approval. */
async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ContentNotFoundError)
      throw new NotFoundException({ error: 'not_found', field: 'contentId', reason: error.message });
    if (error instanceof ContentRefusedError) {
      const body = { currentStatus: error.status, reason: error.message };
      if (error.refusal === 'forbidden')
        throw new ForbiddenException({ error: 'self_approval', field: 'approver', ...body });
      throw new ConflictException({
        error: error.refusal === 'busy' ? 'busy' : 'conflict',
        field: 'status',
        ...body,
      });
    }
    throw error;
  }
}

const requestIdOf = (): string => currentRequestId() ?? randomUUID();

/**
 * Content items through review to their destinations: write versions, submit, approve (never one's own) or ask
 * for changes, comment, schedule, publish now and unpublish. Every call is confined to the caller's workspace.
 */
@Controller('v1/content')
@UseGuards(WorkspaceKeyGuard)
export class ContentController {
  constructor(
    private readonly items: ContentItems,
    private readonly publisher: ContentPublisher,
    private readonly destinations: DestinationSettings,
  ) {}

  @Post()
  @RequireScopes(OrchestrationScopes.contentWrite)
  async create(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
  ): Promise<ContentItemView> {
    const request = parsed(createRequest, body, 'must be an object with kind, title and body');
    requireFitting(request.kind, request);
    const item = await this.items.create(
      workspaceId,
      request.kind,
      {
        title: request.title,
        body: request.body,
        excerpt: request.excerpt ?? null,
        destinations: request.destinations ?? DEFAULT_DESTINATIONS[request.kind],
      },
      principal.credentialId,
      requestIdOf(),
    );
    return viewOf(item);
  }

  @Get()
  @RequireAnyScope(...READ_SCOPES)
  async list(
    @CurrentWorkspace() workspaceId: string,
    @Query() query: unknown,
  ): Promise<{ items: ContentItemView[] }> {
    const filter = parsed(listQuery, query, 'query parameters status, kind, limit');
    return { items: (await this.items.list(workspaceId, filter)).map(viewOf) };
  }

  @Get(':contentId')
  @RequireAnyScope(...READ_SCOPES)
  read(
    @CurrentWorkspace() workspaceId: string,
    @Param('contentId') contentId: string,
  ): Promise<ContentItemView & { version: Omit<ContentVersionDoc, '_id' | 'workspaceId'> | null }> {
    return answer(async () => {
      const item = await this.items.read(workspaceId, checkedId(contentId));
      const version = await this.items.version(workspaceId, contentId, item.latestVersion);
      return { ...viewOf(item), version: version ? versionView(version) : null };
    });
  }

  @Put(':contentId')
  @RequireScopes(OrchestrationScopes.contentWrite)
  edit(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contentId') contentId: string,
    @Body() body: unknown,
  ): Promise<ContentItemView> {
    checkedId(contentId);
    const request = parsed(editRequest, body, 'must be an object with title and body');
    return answer(async () => {
      requireFitting((await this.items.read(workspaceId, contentId)).kind, request);
      const item = await this.items.edit(
        workspaceId,
        contentId,
        {
          title: request.title,
          body: request.body,
          excerpt: request.excerpt ?? null,
          ...(request.destinations ? { destinations: request.destinations } : {}),
        },
        principal.credentialId,
        requestIdOf(),
      );
      return viewOf(item);
    });
  }

  @Get(':contentId/versions/:version')
  @RequireAnyScope(...READ_SCOPES)
  async version(
    @CurrentWorkspace() workspaceId: string,
    @Param('contentId') contentId: string,
    @Param('version') version: string,
  ): Promise<Omit<ContentVersionDoc, '_id' | 'workspaceId'>> {
    const stored = /^\d{1,9}$/.test(version)
      ? await this.items.version(workspaceId, checkedId(contentId), Number(version))
      : undefined;
    if (!stored)
      throw new NotFoundException({
        error: 'not_found',
        field: 'version',
        reason: `no version ${version} of ${contentId}`,
      });
    return versionView(stored);
  }

  @Post(':contentId/submit')
  @HttpCode(200)
  @RequireScopes(OrchestrationScopes.contentWrite)
  submit(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contentId') contentId: string,
    @Body() body: unknown,
  ): Promise<ContentItemView> {
    parsed(emptyRequest, body, 'must be empty or {}');
    return this.command(workspaceId, principal, contentId, { type: 'submit' });
  }

  @Post(':contentId/approve')
  @HttpCode(200)
  @RequireScopes(OrchestrationScopes.contentApprove)
  approve(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contentId') contentId: string,
    @Body() body: unknown,
  ): Promise<ContentItemView> {
    parsed(emptyRequest, body, 'must be empty or {}');
    return this.command(workspaceId, principal, contentId, { type: 'approve' });
  }

  @Post(':contentId/request-changes')
  @HttpCode(200)
  @RequireScopes(OrchestrationScopes.contentApprove)
  requestChanges(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contentId') contentId: string,
    @Body() body: unknown,
  ): Promise<ContentItemView> {
    const request = parsed(requestChangesRequest, body, 'must be an object with a reason');
    return this.command(
      workspaceId,
      principal,
      contentId,
      { type: 'request_changes' },
      { reason: request.reason },
    );
  }

  @Post(':contentId/comments')
  @RequireAnyScope(...ACT_SCOPES)
  comment(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contentId') contentId: string,
    @Body() body: unknown,
  ): Promise<Omit<ContentCommentDoc, 'workspaceId'>> {
    checkedId(contentId);
    const request = parsed(commentRequest, body, 'must be an object with a body');
    return answer(async () => {
      const { workspaceId: _ws, ...comment } = await this.items.comment(
        workspaceId,
        contentId,
        request.body,
        principal.credentialId,
        requestIdOf(),
      );
      return comment;
    });
  }

  @Get(':contentId/comments')
  @RequireAnyScope(...READ_SCOPES)
  comments(
    @CurrentWorkspace() workspaceId: string,
    @Param('contentId') contentId: string,
  ): Promise<{ comments: Omit<ContentCommentDoc, 'workspaceId'>[] }> {
    return answer(async () => ({
      comments: (await this.items.commentsOf(workspaceId, checkedId(contentId))).map(
        ({ workspaceId: _ws, ...comment }) => comment,
      ),
    }));
  }

  @Get(':contentId/history')
  @RequireAnyScope(...READ_SCOPES)
  history(
    @CurrentWorkspace() workspaceId: string,
    @Param('contentId') contentId: string,
  ): Promise<{ entries: Omit<ContentAuditDoc, '_id' | 'workspaceId' | 'contentId'>[] }> {
    return answer(async () => ({
      entries: (await this.items.history(workspaceId, checkedId(contentId))).map(
        ({ _id, workspaceId: _ws, contentId: _c, ...entry }) => entry,
      ),
    }));
  }

  @Post(':contentId/schedule')
  @HttpCode(200)
  @RequireAnyScope(...ACT_SCOPES)
  async schedule(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contentId') contentId: string,
    @Body() body: unknown,
  ): Promise<ContentItemView> {
    const { publishAt } = parsed(scheduleRequest, body, 'must be an object with publishAt');
    const ahead = publishAt.getTime() - Date.now();
    if (ahead <= 0 || ahead > MAX_SCHEDULE_AHEAD_MS)
      throw new BadRequestException({
        error: 'invalid_request',
        errors: [{ field: 'publishAt', reason: 'must be in the future, at most a year ahead' }],
      });
    await this.requireConfigured(workspaceId, contentId);
    return this.command(workspaceId, principal, contentId, { type: 'schedule' }, { publishAt });
  }

  /** Publishes now: answers 200 once every destination is done (or failed), 202 while one waits for a retry. */
  @Post(':contentId/publish')
  @RequireAnyScope(...ACT_SCOPES)
  async publish(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contentId') contentId: string,
    @Body() body: unknown,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ContentItemView> {
    parsed(emptyRequest, body, 'must be empty or {}');
    await this.requireConfigured(workspaceId, contentId);
    return this.worked(workspaceId, principal, contentId, 'publish', res);
  }

  /** Takes the content off its destinations (a sent newsletter stays sent); 202 while one waits for a retry. */
  @Post(':contentId/unpublish')
  @RequireAnyScope(...ACT_SCOPES)
  async unpublish(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('contentId') contentId: string,
    @Body() body: unknown,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ContentItemView> {
    parsed(emptyRequest, body, 'must be empty or {}');
    return this.worked(workspaceId, principal, contentId, 'unpublish', res);
  }

  private async worked(
    workspaceId: string,
    principal: Principal,
    contentId: string,
    type: 'publish' | 'unpublish',
    res: Response,
  ): Promise<ContentItemView> {
    checkedId(contentId);
    const leased = await answer(() =>
      this.items.command(workspaceId, contentId, { type }, principal.credentialId, requestIdOf()),
    );
    // This request holds the item: it works the first round; the publisher does any retries.
    await this.publisher.work(leased);
    const view = await answer(async () => viewOf(await this.items.read(workspaceId, contentId)));
    const settled = !['publishing', 'unpublishing'].includes(view.status);
    res.status(settled ? HttpStatus.OK : HttpStatus.ACCEPTED);
    return view;
  }

  private command(
    workspaceId: string,
    principal: Principal,
    contentId: string,
    command: Parameters<ContentItems['command']>[2],
    options: Parameters<ContentItems['command']>[5] = {},
  ): Promise<ContentItemView> {
    checkedId(contentId);
    return answer(async () =>
      viewOf(
        await this.items.command(
          workspaceId,
          contentId,
          command,
          principal.credentialId,
          requestIdOf(),
          options,
        ),
      ),
    );
  }

  /** 409 when a destination of the item has no settings in the workspace: nothing could be published there. */
  private async requireConfigured(workspaceId: string, contentId: string): Promise<void> {
    const item = await answer(() => this.items.read(workspaceId, checkedId(contentId)));
    const configured = await this.destinations.configured(workspaceId);
    const missing = item.destinations.map((d) => d.name).filter((name) => !configured.has(name));
    if (missing.length > 0)
      throw new HttpException(
        {
          error: 'conflict',
          field: 'destinations',
          currentStatus: item.status,
          reason: `not configured for this workspace: ${missing.join(', ')} (PUT /v1/content-destinations/<name>)`,
        },
        HttpStatus.CONFLICT,
      );
  }
}

/** Where the workspace's content is published: settings per destination, secrets masked in every answer. */
@Controller('v1/content-destinations')
@UseGuards(WorkspaceKeyGuard)
export class ContentDestinationsController {
  constructor(private readonly settings: DestinationSettings) {}

  @Get()
  @RequireAnyScope(OrchestrationScopes.contentAdmin, ...READ_SCOPES)
  async list(@CurrentWorkspace() workspaceId: string): Promise<{ destinations: DestinationSettingsView[] }> {
    return { destinations: await this.settings.list(workspaceId) };
  }

  @Put(':destination')
  @RequireScopes(OrchestrationScopes.contentAdmin)
  async write(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('destination') destination: string,
    @Body() body: unknown,
  ): Promise<DestinationSettingsView> {
    if (!(DESTINATION_NAMES as readonly string[]).includes(destination))
      throw new NotFoundException({
        error: 'not_found',
        field: 'destination',
        reason: `one of ${DESTINATION_NAMES.join(', ')}`,
      });
    const written = await this.settings.write(
      workspaceId,
      destination as DestinationName,
      body,
      principal.credentialId,
      requestIdOf(),
    );
    if (!written.ok) throw new BadRequestException({ error: 'invalid_settings', errors: written.errors });
    return written.view;
  }
}
