import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { BullMqFineTuneQueue } from './bullmq-fine-tune-queue.driver';
import { DatabaseFineTuneQueue } from './database-fine-tune-queue.driver';
import { FineTuneQueue } from './fine-tune-queue.port';

/** The fine-tune queue: BullMQ on Redis when REDIS_URL is set, else the embedded database driver. */
@Global()
@Module({
  providers: [
    {
      provide: FineTuneQueue,
      inject: [DataSource, APP_CONFIG],
      useFactory: (dataSource: DataSource, config: RuntimeConfig) =>
        config.redisUrl ? new BullMqFineTuneQueue(dataSource, config.redisUrl, config.worker.leaseMs) : new DatabaseFineTuneQueue(dataSource),
    },
  ],
  exports: [FineTuneQueue],
})
export class QueueModule implements OnApplicationShutdown {
  constructor(@Inject(FineTuneQueue) private readonly queue: FineTuneQueue) {}

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
  }
}
