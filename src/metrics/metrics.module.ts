import { Global, Module } from '@nestjs/common';
import { FineTunesModule } from '../fine-tunes/fine-tunes.module';
import { GenerationsModule } from '../generations/generations.module';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { EmbeddedWorkerModule } from '../worker/embedded-worker.module';

@Global()
@Module({
  imports: [FineTunesModule, GenerationsModule, EmbeddedWorkerModule],
  controllers: [MetricsController],
  providers: [MetricsService],
  exports: [MetricsService],
})
export class MetricsModule {}
