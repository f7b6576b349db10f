import { AdapterEntity } from '../adapters/adapter.entity';
import { DatasetImageEntity } from '../datasets/dataset-image.entity';
import { DatasetEntity } from '../datasets/dataset.entity';
import { FeedbackSignalEntity } from '../feedback/feedback-signal.entity';
import { FineTuneEntity } from '../fine-tunes/fine-tune.entity';
import { GenerationImageEntity } from '../generations/generation-image.entity';
import { GenerationEntity } from '../generations/generation.entity';
import { ApiKeyEntity } from '../tenants/api-key.entity';
import { TenantEntity } from '../tenants/tenant.entity';
import { WebhookDeliveryEntity } from '../webhooks/webhook-delivery.entity';

/** Every entity of the schema; the migrations must produce exactly these tables. */
export const ENTITIES = [
  TenantEntity,
  ApiKeyEntity,
  DatasetEntity,
  DatasetImageEntity,
  AdapterEntity,
  FineTuneEntity,
  GenerationEntity,
  GenerationImageEntity,
  FeedbackSignalEntity,
  WebhookDeliveryEntity,
];
