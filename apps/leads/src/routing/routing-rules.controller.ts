import {
  BadRequestException,
  Body,
  Controller,
  Get,
  NotFoundException,
  Put,
  UseGuards,
} from '@nestjs/common';
import { CurrentWorkspace, RequireAnyScope, RequireScopes, WorkspaceKeyGuard } from '@tributary/access';
import { parseRoutingRules, type RoutingRules } from './routing-rules';
import { RoutingRulesStore } from './routing-rules.store';
import { LeadsScopes } from '../scopes';

/** A version of the rules as the API answers it. */
export interface RoutingRulesView {
  version: number;
  rules: RoutingRules;
}

/**
 * The workspace's lead routing rules (teams, territories and segments, the accept SLA). Every PUT is a new version;
 * the newest routes new leads. Until a workspace PUTs rules its leads are not routed (their assignment state is
 * `unrouted`), and GET answers 404 saying so.
 */
@Controller('v1/routing-rules')
@UseGuards(WorkspaceKeyGuard)
export class RoutingRulesController {
  constructor(private readonly store: RoutingRulesStore) {}

  @Put()
  @RequireScopes(LeadsScopes.routingAdmin)
  async put(@CurrentWorkspace() workspaceId: string, @Body() body: unknown): Promise<RoutingRulesView> {
    const parsed = parseRoutingRules(body);
    if (!parsed.ok) throw new BadRequestException({ error: 'invalid_routing_rules', errors: parsed.errors });
    const stored = await this.store.put(workspaceId, parsed.rules);
    return { version: stored.version, rules: stored.rules };
  }

  @Get()
  // Whoever may write the rules may read them back.
  @RequireAnyScope(LeadsScopes.routingRead, LeadsScopes.routingAdmin)
  async get(@CurrentWorkspace() workspaceId: string): Promise<RoutingRulesView> {
    const current = await this.store.current(workspaceId);
    if (!current)
      throw new NotFoundException({
        error: 'no_routing_rules',
        reason: 'this workspace has no routing rules: new leads stay unrouted until rules are PUT',
      });
    return { version: current.version, rules: current.rules };
  }
}
