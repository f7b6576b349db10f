import type { WebhookEnvelope } from '../webhooks/webhook-envelope';
import { FineTuneEntity } from './fine-tune.entity';
import type { FineTuneWebhookEvent } from './fine-tune-webhooks';
import type { FineTuneDto, FineTuneHyperparametersDto, FineTunePreviewDto } from './fine-tunes.dto';

/** Where the preview PNG of a job is served. */
export function previewUrl(jobId: string): string {
  return `/v1/fine-tunes/${jobId}/preview`;
}

function toPreviewDto(job: FineTuneEntity): FineTunePreviewDto | null {
  const p = job.preview;
  if (!p) return null;
  return {
    status: p.status,
    url: p.status === 'available' ? previewUrl(job.id) : null,
    prompts: p.prompts,
    seeds: p.seeds,
    scale: p.scale,
    steps: p.steps,
    guidanceScale: p.guidanceScale,
    conceptTop5: p.conceptTop5,
    fidelity: p.fidelity,
    error: p.error,
  };
}

/** The API's view of a job row (responses, SSE and webhook payloads share it). */
export function toFineTuneDto(job: FineTuneEntity): FineTuneDto {
  return {
    id: job.id,
    status: job.status,
    method: job.method,
    baseModel: job.baseModel,
    datasetId: job.datasetId,
    initAdapterId: job.initAdapterId,
    stylePhrase: job.stylePhrase,
    hyperparameters: job.hyperparameters as unknown as FineTuneHyperparametersDto,
    progress: { step: job.step, totalSteps: job.totalSteps },
    metrics: (job.metrics as Record<string, number | null> | null) ?? null,
    adapterId: job.adapterId,
    preview: toPreviewDto(job),
    error: job.error,
    cancelRequested: job.cancelRequested,
    webhookUrl: job.webhookUrl,
    attempts: job.attempts,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
  };
}

/** What the outbox records for a job's event: the job as GET /v1/fine-tunes/{id} returns it, for the job's webhookUrl. */
export function toFineTuneWebhook(job: FineTuneEntity, event: FineTuneWebhookEvent, milestone?: number): WebhookEnvelope {
  return { tenantId: job.tenantId, url: job.webhookUrl, event, subjectId: job.id, milestone, data: { fineTune: toFineTuneDto(job) } };
}
