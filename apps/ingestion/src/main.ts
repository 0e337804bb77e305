import { runServiceMain } from '@tributary/runtime';
import { IngestionModule } from './app.module';
import { loadIngestionConfig } from './config';

runServiceMain(() => {
  const config = loadIngestionConfig();
  return { module: IngestionModule.forRoot(config), config };
});
