import { Controller, Get, Headers, Inject, Query, Res, UseGuards } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Connection } from 'mongoose';
import { z } from 'zod';
import { CurrentWorkspace, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { STORE_CONNECTION } from '@tributary/store';
import { ReportingScopes } from '../scopes';
import { ReportSettingsStore } from '../settings/report-settings';
import { queryTallies } from '../read-models/bucketed-counts';
import { ApiReportQuery, ApiReportResponses } from '../api/report-openapi';
import {
  pageOf,
  pageOfStream,
  parseQuery,
  reportQuery,
  resolveRange,
  streamCsv,
  wantsCsv,
  type Page,
} from '../api/report-query';
import {
  FUNNEL_STAGES,
  funnelOf,
  funnelTrend,
  matches,
  type FunnelPerson,
  type FunnelStageRow,
  type FunnelTrendRow,
} from './funnel';
import { CAPTURED_MODEL, ROUTING_MODEL } from './funnel-contacts';
import { FunnelPeople } from './funnel-people';
import {
  FUNNEL_FILTERS,
  FunnelContactsPageModel,
  FunnelReportModel,
  LeadsCapturedRowModel,
  RoutingPageModel,
} from './funnel.openapi';

const dimension = z.string().min(1).max(200).optional();
const funnelQuery = reportQuery.extend({
  source: dimension,
  medium: dimension,
  campaign: dimension,
  ownerId: dimension,
  teamId: dimension,
  format: z.enum(['json', 'csv']).optional(),
});
const routingQuery = reportQuery.extend({ teamId: dimension, format: z.enum(['json', 'csv']).optional() });

export interface FunnelReport {
  range: { from: string; to: string; grain: string; timeZone: string };
  stages: FunnelStageRow[];
  trend: FunnelTrendRow[];
}

export interface RoutingRow {
  ownerId: string;
  teamId: string;
  assigned: number;
  accepted: number;
  breached: number;
  /** Mean time from assignment to accept, over the accepted ones; null when none was. */
  meanMinutesToAccept: number | null;
  /** breached / assigned; null when nothing was assigned in the range. */
  breachRate: number | null;
}

/**
 * The lead funnel (`GET /v1/reports/funnel`), its people (`GET /v1/reports/funnel/contacts`, JSON pages or a streamed
 * CSV), routing per owner (`GET /v1/reports/routing`) and leads captured per source. The caller's workspace only,
 * whatever it asks for; `reports:read`.
 */
@Controller('v1/reports')
@UseGuards(WorkspaceKeyGuard)
export class FunnelController {
  constructor(
    @Inject(STORE_CONNECTION) private readonly connection: Connection,
    private readonly settings: ReportSettingsStore,
    private readonly funnelPeople: FunnelPeople,
  ) {}

  @Get('funnel')
  @RequireScopes(ReportingScopes.reportsRead)
  @ApiOperation({
    summary: 'The lead funnel: per stage, who entered in the range, advanced, and how fast; its trend',
  })
  @ApiReportQuery({ range: true, grain: true, filters: FUNNEL_FILTERS })
  @ApiReportResponses(FunnelReportModel, {
    description: 'Merged contacts count once, as one person; `trend` is bucketed by `grain`.',
  })
  async funnel(@CurrentWorkspace() workspaceId: string, @Query() raw: unknown): Promise<FunnelReport> {
    const query = parseQuery(funnelQuery, raw);
    const { timeZone } = await this.settings.get(workspaceId);
    const range = resolveRange(query, timeZone);
    // Streamed: only the people who reached a stage in the range are kept; the rest count towards "in stage now".
    const current = new Map<string, number>();
    const entered: FunnelPerson[] = [];
    const inRange = (at: number | undefined) => at !== undefined && at >= range.from && at < range.to;
    for await (const person of this.funnelPeople.stream(workspaceId)) {
      if (!matches(person, query)) continue;
      if (person.stage !== null) current.set(person.stage, (current.get(person.stage) ?? 0) + 1);
      if (FUNNEL_STAGES.some((stage) => inRange(person.reached[stage]))) entered.push(person);
    }
    return {
      range: {
        from: new Date(range.from).toISOString(),
        to: new Date(range.to).toISOString(),
        grain: range.grain,
        timeZone,
      },
      stages: funnelOf(entered, range, query).map((row) => ({
        ...row,
        current: current.get(row.stage) ?? 0,
      })),
      trend: funnelTrend(entered, range, timeZone, query),
    };
  }

  @Get('funnel/contacts')
  @RequireScopes(ReportingScopes.reportsRead)
  @ApiOperation({ summary: 'The funnel’s people (whenever they entered): JSON pages or a streamed CSV' })
  @ApiReportQuery({ page: true, csv: true, filters: FUNNEL_FILTERS })
  @ApiReportResponses(FunnelContactsPageModel, {
    description: 'A page of people, by contact id.',
    csv: 'Every person selected, one row each, with the JSON items’ fields as columns.',
  })
  async funnelContacts(
    @CurrentWorkspace() workspaceId: string,
    @Query() raw: unknown,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<Page<Record<string, unknown>> | undefined> {
    const query = parseQuery(funnelQuery, raw);
    if (wantsCsv(query.format, accept)) {
      await streamCsv(
        response,
        `funnel-contacts-${workspaceId}.csv`,
        PERSON_COLUMNS,
        flatPeople(this.funnelPeople.stream(workspaceId), query),
      );
      return undefined;
    }
    return pageOfStream(flatPeople(this.funnelPeople.stream(workspaceId), query), query);
  }

  @Get('routing')
  @RequireScopes(ReportingScopes.reportsRead)
  @ApiOperation({
    summary: 'Lead routing per owner and team: assigned, accepted, SLA breaches, time to accept',
  })
  @ApiReportQuery({ range: true, page: true, csv: true, filters: { teamId: 'Only this team’s owners.' } })
  @ApiReportResponses(RoutingPageModel, {
    description: 'A page of owners, by team then owner.',
    csv: 'Every owner, one row each, with the JSON items’ fields as columns.',
  })
  async routing(
    @CurrentWorkspace() workspaceId: string,
    @Query() raw: unknown,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<Page<RoutingRow> | undefined> {
    const query = parseQuery(routingQuery, raw);
    const { timeZone } = await this.settings.get(workspaceId);
    const range = resolveRange(query, timeZone);
    const tallies = await queryTallies(this.connection, {
      workspaceId,
      model: ROUTING_MODEL,
      grain: 'day',
      from: range.from,
      to: range.to,
      zone: timeZone,
      ...(query.teamId ? { where: { teamId: query.teamId } } : {}),
      by: ['ownerId', 'teamId'],
    });
    const byOwner = new Map<string, RoutingRow & { acceptMsTotal: number }>();
    for (const tally of tallies) {
      const ownerId = tally.dims['ownerId'] ?? '';
      const teamId = tally.dims['teamId'] ?? '';
      const key = `${ownerId}\u0000${teamId}`;
      const row = byOwner.get(key) ?? {
        ownerId,
        teamId,
        assigned: 0,
        accepted: 0,
        breached: 0,
        breachRate: null,
        meanMinutesToAccept: null,
        acceptMsTotal: 0,
      };
      row.assigned += tally.n['assigned'] ?? 0;
      row.accepted += tally.n['accepted'] ?? 0;
      row.breached += tally.n['breached'] ?? 0;
      row.acceptMsTotal += tally.n['acceptMsTotal'] ?? 0;
      byOwner.set(key, row);
    }
    const rows = [...byOwner.values()]
      .map(({ acceptMsTotal, ...row }): RoutingRow => ({
        ...row,
        breachRate: row.assigned === 0 ? null : Math.round((row.breached / row.assigned) * 10_000) / 10_000,
        meanMinutesToAccept:
          row.accepted === 0 ? null : Math.round((acceptMsTotal / row.accepted / 60_000) * 100) / 100,
      }))
      .sort((a, b) => a.teamId.localeCompare(b.teamId) || a.ownerId.localeCompare(b.ownerId));
    if (wantsCsv(query.format, accept)) {
      await streamCsv(
        response,
        `routing-${workspaceId}.csv`,
        ROUTING_COLUMNS,
        rows as unknown as Record<string, unknown>[],
      );
      return undefined;
    }
    return pageOf(rows, query);
  }

  @Get('leads-captured')
  @RequireScopes(ReportingScopes.reportsRead)
  @ApiOperation({ summary: 'Leads captured at the edge per bucket and source' })
  @ApiReportQuery({ range: true, grain: true, filters: { source: 'Only leads of this source.' } })
  @ApiReportResponses([LeadsCapturedRowModel], {
    description: 'Every bucket and source with a capture, by bucket (not paged).',
  })
  async captured(@CurrentWorkspace() workspaceId: string, @Query() raw: unknown) {
    const query = parseQuery(reportQuery.extend({ source: dimension }), raw);
    const { timeZone } = await this.settings.get(workspaceId);
    const range = resolveRange(query, timeZone);
    const rows = await queryTallies(this.connection, {
      workspaceId,
      model: CAPTURED_MODEL,
      grain: range.grain,
      from: range.from,
      to: range.to,
      zone: timeZone,
      ...(query.source ? { where: { source: query.source } } : {}),
      by: ['source'],
    });
    return rows.map((row) => ({
      bucket: row.bucket,
      source: row.dims['source'],
      captured: row.n['captured'] ?? 0,
    }));
  }
}

const PERSON_COLUMNS = [
  'contactId',
  'stage',
  'source',
  'medium',
  'campaign',
  'ownerId',
  'teamId',
  ...FUNNEL_STAGES.map((s) => `reached_${s}`),
];
const ROUTING_COLUMNS = [
  'ownerId',
  'teamId',
  'assigned',
  'accepted',
  'breached',
  'breachRate',
  'meanMinutesToAccept',
];

/** The people a query selects, as CSV rows, pulled one at a time. */
async function* flatPeople(
  people: AsyncIterable<FunnelPerson>,
  filter: Parameters<typeof matches>[1],
): AsyncGenerator<Record<string, unknown>> {
  for await (const person of people) if (matches(person, filter)) yield flatPerson(person);
}

function flatPerson(person: FunnelPerson): Record<string, unknown> {
  const { reached, ...rest } = person;
  return {
    ...rest,
    ...Object.fromEntries(
      FUNNEL_STAGES.map((stage) => {
        const at = reached[stage];
        return [`reached_${stage}`, at === undefined ? '' : new Date(at).toISOString()];
      }),
    ),
  };
}
