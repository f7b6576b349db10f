import { Module } from '@nestjs/common';
import { FineTunesModule } from '../fine-tunes/fine-tunes.module';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/** The tenant-facing webhook endpoints (delivery log, signing secret). */
@Module({
  imports: [FineTunesModule],
  controllers: [WebhooksController],
  providers: [WebhooksService],
})
export class WebhooksApiModule {}
