import { FineTuneEntity } from './fine-tune.entity';
import type { FineTuneDto, FineTuneHyperparametersDto } from './fine-tunes.dto';

/** The API's view of a job row (responses, SSE and webhook payloads share it). */
export function toFineTuneDto(job: FineTuneEntity): FineTuneDto {
  return {
    id: job.id,
    status: job.status,
    method: job.method,
    baseModel: job.baseModel,
    datasetId: job.datasetId,
    initAdapterId: job.initAdapterId,
    hyperparameters: job.hyperparameters as unknown as FineTuneHyperparametersDto,
    progress: { step: job.step, totalSteps: job.totalSteps },
    metrics: (job.metrics as Record<string, number | null> | null) ?? null,
    adapterId: job.adapterId,
    error: job.error,
    cancelRequested: job.cancelRequested,
    webhookUrl: job.webhookUrl,
    attempts: job.attempts,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
  };
}
