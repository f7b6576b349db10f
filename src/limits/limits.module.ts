import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { FineTuneRecordsModule } from '../fine-tunes/fine-tune-records.module';
import { createRedisConnection } from '../queue/redis-connection';
import { MemoryRateLimiter } from './memory-rate-limiter.driver';
import { QuotasService } from './quotas.service';
import { RateLimitGuard } from './rate-limit.guard';
import { RateLimiter } from './rate-limiter.port';
import { RedisRateLimiter } from './redis-rate-limiter.driver';
import { TenantUsageRepository } from './tenant-usage.repository';

/** Rate limits (Redis buckets shared by API replicas when REDIS_URL is set) and tenant quotas. */
@Global()
@Module({
  imports: [FineTuneRecordsModule],
  providers: [
    {
      provide: RateLimiter,
      inject: [APP_CONFIG],
      useFactory: (config: RuntimeConfig) => (config.redisUrl ? new RedisRateLimiter(createRedisConnection(config.redisUrl)) : new MemoryRateLimiter()),
    },
    RateLimitGuard,
    QuotasService,
    TenantUsageRepository,
  ],
  exports: [RateLimiter, RateLimitGuard, QuotasService],
})
export class LimitsModule implements OnApplicationShutdown {
  constructor(@Inject(RateLimiter) private readonly limiter: RateLimiter) {}

  async onApplicationShutdown(): Promise<void> {
    await this.limiter.close();
  }
}
