import {
  BadRequestException,
  Body,
  Controller,
  Get,
  NotFoundException,
  Param,
  HttpCode,
  Patch,
  Post,
  Put,
  Query,
  UseGuards,
} from '@nestjs/common';
import { z } from 'zod';
import {
  CurrentPrincipal,
  CurrentWorkspace,
  RequireAnyScope,
  RequireScopes,
  WorkspaceKeyGuard,
  type Principal,
} from '@tributary/access';
import { originMetadata } from '@tributary/messaging';
import { checkedParam, fieldProblemsOf } from '@tributary/runtime';
import { SyncScopes } from '../scopes';
import type { GoldenEntity } from './golden-record.model';
import { GoldenRecordQueries, type GoldenRecordView } from './golden-record.queries';
import { Erasures, type ErasureView } from './erasure.service';
import { GoldenRecords } from './golden-records.service';
import { survivorshipRules, type SurvivorshipRules } from './survivorship';
import { SurvivorshipRulesStore } from './survivorship-rules.store';

const READ = [SyncScopes.recordsRead, SyncScopes.recordsWrite];
const GOLDEN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FIELD = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

const checkedId = (id: string) => checkedParam(id, GOLDEN_ID, 'goldenId', 'a golden record id (a UUID)');
const checkedEntity = (entity: string): GoldenEntity =>
  checkedParam(entity, /^(contact|company)$/, 'entity', 'contact or company') as GoldenEntity;

const listQuery = z
  .object({
    entity: z.enum(['contact', 'company']).default('contact'),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    after: z.string().regex(GOLDEN_ID).optional(),
    email: z.string().min(3).max(320).optional(),
    system: z.string().min(1).max(64).optional(),
    externalId: z.string().min(1).max(256).optional(),
  })
  .strict()
  .refine((q) => (q.system === undefined) === (q.externalId === undefined), {
    message: 'system and externalId go together',
    path: ['externalId'],
  });

const pageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    before: z.coerce.number().int().min(1).optional(),
  })
  .strict();

const conflictsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    since: z.string().datetime().optional(),
  })
  .strict();

const manualBody = z
  .object({
    fields: z
      .record(
        z.string().regex(FIELD, 'a field name'),
        z
          .object({ value: z.string().max(65_536).nullable().optional(), locked: z.boolean().optional() })
          .strict()
          .refine((f) => f.value !== undefined || f.locked !== undefined, 'a value, a lock, or both'),
      )
      .refine((fields) => Object.keys(fields).length > 0, 'at least one field'),
  })
  .strict();

function parsed<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, input: unknown, shape: string): T {
  const result = schema.safeParse(input);
  if (!result.success)
    throw new BadRequestException({ error: 'invalid_request', errors: fieldProblemsOf(result.error, shape) });
  return result.data;
}

/**
 * Golden records as the API shows them: values with provenance, each source's latest value, links, locks; the history
 * of each record and the conflict log; values set (and locked) by hand; the survivorship rules.
 */
@Controller('v1')
@UseGuards(WorkspaceKeyGuard)
export class GoldenRecordsController {
  constructor(
    private readonly queries: GoldenRecordQueries,
    private readonly golden: GoldenRecords,
    private readonly rules: SurvivorshipRulesStore,
    private readonly erasures: Erasures,
  ) {}

  @Get('golden-records')
  @RequireAnyScope(...READ)
  async list(
    @CurrentWorkspace() workspaceId: string,
    @Query() query: unknown,
  ): Promise<{ records: GoldenRecordView[]; next: string | null }> {
    return this.queries.list(workspaceId, parsed(listQuery, query, 'query parameters'));
  }

  /** The workspace's conflict log, newest first. */
  @Get('golden-records/conflicts')
  @RequireAnyScope(...READ)
  async conflicts(@CurrentWorkspace() workspaceId: string, @Query() query: unknown) {
    return this.queries.conflicts(workspaceId, null, parsed(conflictsQuery, query, 'query parameters'));
  }

  @Get('golden-records/:goldenId')
  @RequireAnyScope(...READ)
  async read(
    @CurrentWorkspace() workspaceId: string,
    @Param('goldenId') id: string,
  ): Promise<GoldenRecordView> {
    return this.found(await this.queries.get(workspaceId, checkedId(id)));
  }

  /** Every applied change, newest first: the fields before and after, the source, the rule. */
  @Get('golden-records/:goldenId/history')
  @RequireAnyScope(...READ)
  async history(
    @CurrentWorkspace() workspaceId: string,
    @Param('goldenId') id: string,
    @Query() query: unknown,
  ) {
    const record = this.found(await this.queries.get(workspaceId, checkedId(id)));
    return this.queries.history(workspaceId, record.mergedIds, parsed(pageQuery, query, 'query parameters'));
  }

  @Get('golden-records/:goldenId/conflicts')
  @RequireAnyScope(...READ)
  async recordConflicts(
    @CurrentWorkspace() workspaceId: string,
    @Param('goldenId') id: string,
    @Query() query: unknown,
  ) {
    const record = this.found(await this.queries.get(workspaceId, checkedId(id)));
    return this.queries.conflicts(
      workspaceId,
      record.mergedIds,
      parsed(conflictsQuery, query, 'query parameters'),
    );
  }

  /**
   * Values set by hand (source `manual`), each optionally locked: a locked field keeps the manual value whatever the
   * systems say, until unlocked. Answers the record as it stands after.
   */
  @Patch('golden-records/:goldenId')
  @RequireScopes(SyncScopes.recordsWrite)
  async setFields(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('goldenId') id: string,
    @Body() body: unknown,
  ): Promise<GoldenRecordView> {
    const request = parsed(manualBody, body, 'a JSON object {fields: {name: {value, locked}}}');
    const record = this.found(await this.queries.get(workspaceId, checkedId(id)));
    await this.golden.setManually(
      originMetadata({ workspaceId, source: `api:${principal.credentialId}` }),
      record.id,
      record.entity,
      Object.entries(request.fields).map(([field, f]) => ({
        field,
        ...(f.value !== undefined ? { value: f.value } : {}),
        ...(f.locked !== undefined ? { locked: f.locked } : {}),
      })),
    );
    return this.found(await this.queries.get(workspaceId, record.id));
  }

  /**
   * Erases the person: their record in every connected system is deleted (the vendor's GDPR delete), then the golden
   * record's values, keys and history. Answers what each system did; asking again retries the ones that failed.
   */
  @Post('golden-records/:goldenId/erasure')
  @HttpCode(200)
  @RequireScopes(SyncScopes.recordsErase)
  async erase(
    @CurrentWorkspace() workspaceId: string,
    @CurrentPrincipal() principal: Principal,
    @Param('goldenId') id: string,
  ): Promise<ErasureView> {
    const record = this.found(await this.queries.get(workspaceId, checkedId(id)));
    return this.erasures.erase(workspaceId, record.mergedIds, principal.credentialId);
  }

  /** The record of an erasure: the systems and what each did (no personal data). */
  @Get('golden-records/:goldenId/erasure')
  @RequireAnyScope(SyncScopes.recordsErase, ...READ)
  async erasure(@CurrentWorkspace() workspaceId: string, @Param('goldenId') id: string) {
    const record = this.found(await this.queries.get(workspaceId, checkedId(id)));
    const done = await this.erasures.find(workspaceId, record.id);
    if (!done) throw new NotFoundException({ error: 'not_found', field: 'goldenId', reason: 'not erased' });
    return {
      goldenId: record.id,
      status: done.completedAt ? 'complete' : 'incomplete',
      requestedAt: done.requestedAt.toISOString(),
      completedAt: done.completedAt?.toISOString() ?? null,
      links: done.links,
    };
  }

  @Get('survivorship-rules/:entity')
  @RequireAnyScope(...READ)
  async readRules(
    @CurrentWorkspace() workspaceId: string,
    @Param('entity') entity: string,
  ): Promise<SurvivorshipRules> {
    return this.rules.of(workspaceId, checkedEntity(entity));
  }

  /**
   * Replaces the rules and decides every record of the entity again under them (each source's latest value is kept,
   * so nothing needs reading again); records whose values change announce it with cause `rules`.
   */
  @Put('survivorship-rules/:entity')
  @RequireScopes(SyncScopes.recordsWrite)
  async writeRules(
    @CurrentWorkspace() workspaceId: string,
    @Param('entity') entity: string,
    @Body() body: unknown,
  ): Promise<{ rules: SurvivorshipRules; recordsChanged: number }> {
    const rules = parsed(survivorshipRules, body, 'a JSON object {sources, default, fields}');
    const checked = checkedEntity(entity);
    await this.rules.set(workspaceId, checked, rules);
    const recordsChanged = await this.golden.decideAgain(workspaceId, checked, rules);
    return { rules, recordsChanged };
  }

  private found<T>(value: T | null): T {
    if (value === null)
      throw new NotFoundException({ error: 'not_found', field: 'goldenId', reason: 'no such golden record' });
    return value;
  }
}
