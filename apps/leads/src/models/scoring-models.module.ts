import { Module, type DynamicModule } from '@nestjs/common';
import { ScoringModelController } from './scoring-model.controller';
import {
  ScoringModelStore,
  scoringModelProviders,
  type ScoringModelStoreOptions,
} from './scoring-model.store';

/** Scoring models: each workspace's versioned model and the API that stores and reads it. */
@Module({})
export class ScoringModelsModule {
  static forRoot(options: Pick<ScoringModelStoreOptions, 'cacheTtlMs'>): DynamicModule {
    return { ...ScoringModelsModule.headless(options), controllers: [ScoringModelController] };
  }

  /** The store without its API, for an application context without HTTP (the rescore CLI). */
  static headless(options: Pick<ScoringModelStoreOptions, 'cacheTtlMs'>): DynamicModule {
    return {
      module: ScoringModelsModule,
      providers: scoringModelProviders({ cacheTtlMs: options.cacheTtlMs }),
      exports: [ScoringModelStore],
    };
  }
}
