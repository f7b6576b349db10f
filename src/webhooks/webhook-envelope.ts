/**
 * What a feature hands the webhook outbox: whose event it is, where it goes, what happened and the
 * JSON that describes it. The outbox knows nothing else about the feature.
 */
export interface WebhookEnvelope {
  tenantId: string;
  /** Where to POST it; null when the subject asked for no webhooks (nothing is recorded). */
  url: string | null;
  /** The event type: the body's `type` and the `X-Saas-Event` header. */
  event: string;
  /** The resource the event is about; its deliveries are listed by it. */
  subjectId: string;
  /** A point along the subject's progress (a percentage): the body's `milestone`, one event per milestone. */
  milestone?: number;
  /** The body's `data`. */
  data: Record<string, unknown>;
}
