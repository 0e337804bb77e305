import { Module, type DynamicModule } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { EventServiceModule } from '@tributary/runtime';
import { STORE_CONNECTION } from '@tributary/store';
import type { SyncConfig } from './config';
import { GOLDEN_RECORD_MODEL, goldenRecordModel } from './golden-records/golden-record.model';
import { GoldenRecordSync } from './golden-records/golden-record-sync.service';
import { LeadsScoredHandler } from './golden-records/leads-scored.handler';

/** Connectors and golden records (the skeleton mirrors lead scores and queues them outbound). */
@Module({})
export class SyncModule {
  static forRoot(config: SyncConfig): DynamicModule {
    return {
      module: SyncModule,
      imports: [EventServiceModule.forRoot(config)],
      controllers: [LeadsScoredHandler],
      providers: [
        GoldenRecordSync,
        {
          provide: GOLDEN_RECORD_MODEL,
          inject: [STORE_CONNECTION],
          useFactory: (c: Connection) => goldenRecordModel(c),
        },
      ],
    };
  }
}
