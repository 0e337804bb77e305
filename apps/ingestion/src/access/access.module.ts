import { Global, Module } from '@nestjs/common';
import { SERVICE_CONFIG, StaticWorkspaceKeys, WORKSPACE_KEYS } from '@tributary/platform';
import type { IngestionConfig } from '../config';

/** Who may call the edge: resolves write keys / tokens to workspaces and scopes for every controller. */
@Global()
@Module({
  providers: [
    {
      provide: WORKSPACE_KEYS,
      inject: [SERVICE_CONFIG],
      useFactory: (config: IngestionConfig) => new StaticWorkspaceKeys(config.WRITE_KEYS),
    },
  ],
  exports: [WORKSPACE_KEYS],
})
export class AccessModule {}
