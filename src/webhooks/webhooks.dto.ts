import { ApiProperty } from '@nestjs/swagger';

/** One event of the outbox and how its delivery went. */
export class WebhookDeliveryDto {
  @ApiProperty({ format: 'uuid', description: 'Also sent as X-Saas-Delivery and as the body’s id.' })
  id: string;

  @ApiProperty({ example: 'fine_tune.succeeded', description: 'The event type, as sent in the body’s `type` and in X-Saas-Event.' })
  event: string;

  @ApiProperty({ example: 'fine_tune.progress:50', description: 'The event, with the milestone for progress events.' })
  eventKey: string;

  @ApiProperty({ example: 'https://hooks.example.com/saas' })
  url: string;

  @ApiProperty({ enum: ['pending', 'delivered', 'failed'], description: 'pending: not yet delivered, retries scheduled; failed: attempts exhausted.' })
  status: string;

  @ApiProperty({ example: 1 })
  attempts: number;

  @ApiProperty({ nullable: true, type: Number, example: 200, description: 'HTTP status of the last attempt (null: no answer).' })
  lastStatusCode: number | null;

  @ApiProperty({ nullable: true, type: String, example: null })
  lastError: string | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', description: 'When the next attempt is due (pending deliveries).' })
  nextAttemptAt: string;

  @ApiProperty({ nullable: true, type: String, format: 'date-time' })
  deliveredAt: string | null;
}

export class WebhookSecretDto {
  @ApiProperty({
    example: 'whsec_4f1c0d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b',
    description: 'HMAC-SHA256 key of X-Saas-Signature: sha256=hex(HMAC(secret, "<X-Saas-Timestamp>.<body>")).',
  })
  webhookSecret: string;
}
