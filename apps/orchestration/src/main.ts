import { runServiceMain } from '@tributary/runtime';
import { OrchestrationModule } from './app.module';
import { loadOrchestrationConfig } from './config';

runServiceMain(() => {
  const config = loadOrchestrationConfig();
  return { module: OrchestrationModule.forRoot(config), config };
});
