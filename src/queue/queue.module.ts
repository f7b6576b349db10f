import { Global, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DatabaseFineTuneQueue } from './database-fine-tune-queue.driver';
import { FineTuneQueue } from './fine-tune-queue.port';

/** The fine-tune queue; the embedded driver works on whichever database the app uses. */
@Global()
@Module({
  providers: [{ provide: FineTuneQueue, inject: [DataSource], useFactory: (dataSource: DataSource) => new DatabaseFineTuneQueue(dataSource) }],
  exports: [FineTuneQueue],
})
export class QueueModule {}
