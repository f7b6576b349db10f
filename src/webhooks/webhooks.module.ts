import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { TenantEntity } from '../tenants/tenant.entity';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { WebhookDeliveryLoop } from './webhook-delivery.loop';
import { WebhookOutboxService } from './webhook-outbox.service';

/** Recording and sending webhooks: in the API and in every worker process. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([WebhookDeliveryEntity, TenantEntity])],
  providers: [WebhookDeliveriesRepository, WebhookOutboxService, WebhookDeliveryLoop],
  exports: [WebhookDeliveriesRepository, WebhookOutboxService, WebhookDeliveryLoop],
})
export class WebhooksModule {}
