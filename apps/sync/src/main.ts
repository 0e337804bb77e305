import { runServiceMain } from '@tributary/messaging';
import { SyncModule } from './app.module';
import { loadSyncConfig } from './config';

runServiceMain(() => {
  const config = loadSyncConfig();
  return { module: SyncModule.forRoot(config), config };
});
