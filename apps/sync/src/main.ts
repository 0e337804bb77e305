import { runServiceMain } from '@tributary/runtime';
import { SyncModule } from './app.module';
import { loadSyncConfig } from './config';

runServiceMain(() => {
  const config = loadSyncConfig();
  return { module: SyncModule.forRoot(config), config };
});
