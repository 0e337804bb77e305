import { runServiceMain } from '@tributary/runtime';
import { LeadsModule } from './app.module';
import { loadLeadsConfig } from './config';

runServiceMain(() => {
  const config = loadLeadsConfig();
  return { module: LeadsModule.forRoot(config), config };
});
