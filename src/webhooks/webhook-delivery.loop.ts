import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { generateWebhookSecret, signWebhook } from './webhook-signature';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { postWebhook } from './webhook-sender';

/** Deliveries taken per poll; each is sent concurrently with the others. */
const BATCH = 8;

/**
 * Sends the webhook outbox. Every API process and every worker runs one; deliveries are claimed
 * with a lock that outlives one attempt, so several loops never send the same event at once, and a
 * loop that dies mid-send leaves the delivery to the next one when the lock expires. A 2xx answer
 * delivers; anything else (3xx included: redirects are not followed), a timeout or a network error is
 * retried with exponential backoff up to WEBHOOK_MAX_ATTEMPTS.
 */
@Injectable()
export class WebhookDeliveryLoop implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('WebhookDelivery');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly deliveries: WebhookDeliveriesRepository,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  /**
   * Before, not on, application shutdown: the database closes in its own onApplicationShutdown, and an
   * attempt still in flight must record its answer first, or the delivery waits out its lock to be resent.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Sends whatever is due now (tests call it to skip the poll interval). */
  async runOnce(): Promise<number> {
    const { timeoutMs } = this.config.webhooks;
    const claimed = await this.deliveries.claimDue(timeoutMs * 2 + 1_000, BATCH);
    await Promise.all(claimed.map((delivery) => this.attempt(delivery)));
    return claimed.length;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce().then(
        (sent) => this.schedule(sent === BATCH ? 0 : this.config.webhooks.pollMs),
        (error) => {
          this.logger.warn(`webhook loop: ${error}`);
          this.schedule(this.config.webhooks.pollMs);
        },
      );
    }, delayMs);
    this.timer.unref();
  }

  private async attempt(delivery: WebhookDeliveryEntity): Promise<void> {
    const { timeoutMs, maxAttempts, backoffMs } = this.config.webhooks;
    let secret = await this.deliveries.findSecret(delivery.tenantId);
    if (!secret) {
      // Tenants created before webhooks existed get their secret on first use.
      secret = generateWebhookSecret();
      await this.deliveries.storeSecret(delivery.tenantId, secret);
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const result = await postWebhook(
      delivery.url,
      {
        'Content-Type': 'application/json',
        'User-Agent': 'Style-as-a-Service-Webhooks/1',
        'X-Saas-Event': delivery.event,
        'X-Saas-Delivery': delivery.id,
        'X-Saas-Timestamp': String(timestamp),
        'X-Saas-Signature': signWebhook(secret, timestamp, delivery.payload),
      },
      delivery.payload,
      timeoutMs,
    );
    const code = result.statusCode;
    if (code !== null && code >= 200 && code < 300) {
      await this.deliveries.markDelivered(delivery.id, code);
      return;
    }
    const error = result.error ?? (code !== null && code >= 300 && code < 400 ? `redirect (${code}) not followed` : `HTTP ${code}`);
    if (delivery.attempts >= maxAttempts) {
      this.logger.warn(`webhook ${delivery.event} for ${delivery.subjectId} given up after ${delivery.attempts} attempts: ${error}`);
      await this.deliveries.markFailed(delivery.id, code, error);
    } else {
      await this.deliveries.scheduleRetry(delivery.id, code, error, new Date(Date.now() + backoffMs * 2 ** (delivery.attempts - 1)));
    }
  }
}
