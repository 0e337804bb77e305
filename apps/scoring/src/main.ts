import { runServiceMain } from '@tributary/messaging';
import { ScoringModule } from './app.module';
import { loadScoringConfig } from './config';

runServiceMain(() => {
  const config = loadScoringConfig();
  return { module: ScoringModule.forRoot(config), config };
});
