import { Module } from '@nestjs/common';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/** The tenant-facing webhook endpoints (signing secret); a feature serves its own delivery log. */
@Module({
  controllers: [WebhooksController],
  providers: [WebhooksService],
})
export class WebhooksApiModule {}
