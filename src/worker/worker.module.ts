import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdapterEntity } from '../adapters/adapter.entity';
import { AdapterRegistrar } from '../adapters/adapter.registrar';
import { AdaptersRepository } from '../adapters/adapters.repository';
import { ConfigModule, RuntimeConfig } from '../config/config.module';
import { DatabaseModule } from '../database/database.module';
import { DatasetImageEntity } from '../datasets/dataset-image.entity';
import { DatasetEntity } from '../datasets/dataset.entity';
import { DatasetsRepository } from '../datasets/datasets.repository';
import { FineTuneEntity } from '../fine-tunes/fine-tune.entity';
import { FineTuneJobProcessor } from '../fine-tunes/fine-tune.job';
import { FineTunesRepository } from '../fine-tunes/fine-tunes.repository';
import { QueueModule } from '../queue/queue.module';
import { StorageModule } from '../storage/storage.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { FineTuneWorker } from './fine-tune.worker';
import { WorkerMetrics } from '../metrics/worker-metrics';

/** The worker process: the same database, storage and queue as the API, no HTTP. */
@Module({})
export class WorkerModule {
  static forRoot(config: RuntimeConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        StorageModule,
        QueueModule,
        WebhooksModule,
        TypeOrmModule.forFeature([FineTuneEntity, DatasetEntity, DatasetImageEntity, AdapterEntity]),
      ],
      providers: [FineTunesRepository, DatasetsRepository, AdaptersRepository, AdapterRegistrar, FineTuneJobProcessor, FineTuneWorker, WorkerMetrics],
      exports: [FineTuneWorker, WorkerMetrics],
    };
  }
}
