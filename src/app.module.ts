import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AdaptersModule } from './adapters/adapters.module';
import { AuthGuard } from './auth/auth.guard';
import { ConfigModule, RuntimeConfig } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { DatasetsModule } from './datasets/datasets.module';
import { FeedbackModule } from './feedback/feedback.module';
import { FineTunesModule } from './fine-tunes/fine-tunes.module';
import { GenerationsModule } from './generations/generations.module';
import { HealthModule } from './health/health.module';
import { HttpExceptionFilter } from './http/http-exception.filter';
import { LimitsModule } from './limits/limits.module';
import { RateLimitGuard } from './limits/rate-limit.guard';
import { MetricsModule } from './metrics/metrics.module';
import { ModelsModule } from './models/models.module';
import { QueueModule } from './queue/queue.module';
import { StorageModule } from './storage/storage.module';
import { TenantsModule } from './tenants/tenants.module';
import { WebhooksApiModule } from './webhooks/webhooks-api.module';
import { WebhooksModule } from './webhooks/webhooks.module';
import { EmbeddedWorkerModule } from './worker/embedded-worker.module';

/** The API process: every feature module on the embedded (or configured) infrastructure. */
@Module({})
export class AppModule {
  static forRoot(config: RuntimeConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        StorageModule,
        QueueModule,
        LimitsModule,
        WebhooksModule,
        TenantsModule,
        DatasetsModule,
        AdaptersModule,
        ModelsModule,
        FineTunesModule,
        GenerationsModule,
        FeedbackModule,
        HealthModule,
        MetricsModule,
        WebhooksApiModule,
        EmbeddedWorkerModule,
      ],
      providers: [
        { provide: APP_GUARD, useClass: AuthGuard },
        // After authentication: buckets are per API key.
        { provide: APP_GUARD, useExisting: RateLimitGuard },
        // The one error filter, for every app built from this module (server, OpenAPI CLI, tests).
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
      ],
    };
  }
}
