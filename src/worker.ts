import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfigOrExit } from './config/app-config';
import { armShutdownDeadline } from './lifecycle/shutdown-deadline';
import { createAppLogger } from './logging/app.logger';
import { FineTuneWorker } from './worker/fine-tune.worker';
import { WorkerModule } from './worker/worker.module';
import { WorkerMetrics } from './metrics/worker-metrics';

/**
 * Fine-tune worker entry point (`npm run worker`): claims jobs from the queue and trains them. The API
 * forks one in the embedded default; on other machines run it on its own against the same
 * DATABASE_URL, DATA_DIR (storage) and MODELS_DIR.
 */
async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit(process.env);
  // The worker never authenticates anyone; the admin token is not read or created here.
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot({ ...config, adminToken: '' }), {
    logger: createAppLogger(config.logLevels, config.logFormat),
    abortOnError: false,
  });
  const worker = app.get(FineTuneWorker);
  const logger = new Logger('Worker');
  const metrics = app.get(WorkerMetrics);
  const metricsServer = config.worker.metricsPort !== undefined ? await metrics.serve(config.worker.metricsPort) : undefined;
  if (metricsServer) logger.log(`Metrics on port ${metricsServer.port} (GET /metrics)`);
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`Stopping (${why})`);
    // A running job is handed back first; if Redis or the database no longer answers, the deadline
    // ends the process and the job returns to the queue when its lease runs out.
    armShutdownDeadline(config.shutdownTimeoutMs);
    await worker.stop();
    await metricsServer?.close();
    await app.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // Forked by the API: the IPC channel closing means the API is gone.
  process.on('disconnect', () => void shutdown('parent exited'));
  process.on('message', (message: { type?: string; id?: number } | undefined) => {
    if (message?.type === 'wake') worker.wake();
    // The embedded worker's metrics appear in the API's /metrics: the API asks for them on each scrape.
    if (message?.type === 'metrics') {
      metrics.registry.getMetricsAsJSON().then((values) => process.send?.({ type: 'metrics', id: message.id, values }, () => undefined));
    }
  });
  worker.start();
}

bootstrap().catch((error) => {
  console.error(error);
  process.exit(1);
});
