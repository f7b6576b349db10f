import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { AppConfig, WorkerConfig } from '../../src/config/app-config';
import { FineTunesRepository } from '../../src/fine-tunes/fine-tunes.repository';
import { FineTuneWorker } from '../../src/worker/fine-tune.worker';
import { WorkerModule } from '../../src/worker/worker.module';

export interface InProcessWorker {
  context: INestApplicationContext;
  worker: FineTuneWorker;
  /** Steps whose progress this worker wrote, in order. */
  recordedSteps: number[];
  close(): Promise<void>;
}

/**
 * The worker module on the test app's database and storage, in the test process: the same code the
 * worker process runs, without forking, so tests can drive it step by step.
 */
export interface InProcessWorkerOptions {
  workerId?: string;
  /**
   * Awaited before the worker's n-th progress write (1-based). Holding a write holds the job's
   * success too (it waits for pending progress), so a test can observe a job mid-run.
   */
  beforeProgressWrite?: (n: number) => Promise<void> | undefined;
}

export async function startInProcessWorker(config: AppConfig, worker: Partial<WorkerConfig> = {}, options: InProcessWorkerOptions = {}): Promise<InProcessWorker> {
  const { workerId } = options;
  const previous = process.env.WORKER_ID;
  if (workerId) process.env.WORKER_ID = workerId;
  const context = await NestFactory.createApplicationContext(
    WorkerModule.forRoot({ ...config, adminToken: '', worker: { ...config.worker, pollMs: 50, ...worker } }),
    { logger: false },
  );
  if (workerId) process.env.WORKER_ID = previous;
  const recordedSteps: number[] = [];
  const repository = context.get(FineTunesRepository);
  const record = repository.recordProgress.bind(repository);
  repository.recordProgress = async (id, holder, step, totalSteps, metrics) => {
    recordedSteps.push(step);
    await options.beforeProgressWrite?.(recordedSteps.length);
    return record(id, holder, step, totalSteps, metrics);
  };
  const fineTuneWorker = context.get(FineTuneWorker);
  return {
    context,
    worker: fineTuneWorker,
    recordedSteps,
    close: async () => {
      await fineTuneWorker.stop();
      await context.close();
    },
  };
}
