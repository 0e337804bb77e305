import { runServiceMain } from '@tributary/runtime';
import { ReportingModule } from './app.module';
import { loadReportingConfig } from './config';

runServiceMain(() => {
  const config = loadReportingConfig();
  return { module: ReportingModule.forRoot(config), config };
});
