import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { FineTuneQueue } from '../queue/fine-tune-queue.port';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** The compiled worker entry point next to the compiled server. */
const WORKER_ENTRY = join(__dirname, '..', 'worker.js');
/** How long a stopping child may take to hand its job back. */
const STOP_GRACE_MS = 15_000;

/**
 * Embedded default: the API forks the fine-tune worker as a child process (training never runs on
 * the HTTP event loop), restarts it if it dies (handing its job straight back to the queue) and
 * stops it on shutdown. `EMBEDDED_WORKER=false` leaves training to workers started elsewhere.
 */
@Injectable()
export class EmbeddedWorkerSupervisor implements BeforeApplicationShutdown {
  private readonly logger = new Logger('EmbeddedWorker');
  private child?: ChildProcess;
  private childWorkerId?: string;
  private stopping = false;
  private generation = 0;
  private failures = 0;
  private restartTimer?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private metricsRequests = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
    private readonly queue: FineTuneQueue,
  ) {}

  start(): void {
    if (this.child || this.stopping) return;
    if (!existsSync(WORKER_ENTRY)) {
      this.logger.error(`No worker entry point at ${WORKER_ENTRY}; fine-tunes will wait in the queue (run npm run build)`);
      return;
    }
    this.unsubscribe = this.queue.onEnqueued(() => {
      if (this.child?.connected) this.child.send({ type: 'wake' }, () => undefined);
    });
    this.spawn();
  }

  /** The worker child's metrics (prom-client JSON), or null when it is not running or does not answer in time. */
  async workerMetrics(timeoutMs = 2000): Promise<MetricObjectWithValues<MetricValue<string>>[] | null> {
    const child = this.child;
    if (!child?.connected) return null;
    const id = ++this.metricsRequests;
    return new Promise((resolve) => {
      const onMessage = (message: { type?: string; id?: number; values?: MetricObjectWithValues<MetricValue<string>>[] }) => {
        if (message?.type !== 'metrics' || message.id !== id) return;
        done(message.values ?? null);
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      const done = (values: MetricObjectWithValues<MetricValue<string>>[] | null) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(values);
      };
      child.on('message', onMessage);
      child.send({ type: 'metrics', id }, (error) => error && done(null));
    });
  }

  /** The running worker's process id (for operators and tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private spawn(): void {
    const workerId = `embedded:${process.pid}:${++this.generation}`;
    const startedAt = Date.now();
    const env: NodeJS.ProcessEnv = { ...process.env, WORKER_ID: workerId };
    // Sharing the machine with the API: training takes the cores generation leaves.
    env.TRAINING_THREADS ??= String(Math.max(1, availableParallelism() - this.config.generation.threads));
    const child = fork(WORKER_ENTRY, [], { env, stdio: 'inherit' });
    this.child = child;
    this.childWorkerId = workerId;
    this.logger.log(`Started fine-tune worker (pid ${child.pid})`);
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      this.logger.warn(`Fine-tune worker exited (${signal ?? `code ${code}`}); restarting`);
      // Its job needs no lease timeout: the process that held it is gone.
      this.queue.releaseWorker(workerId).then(
        (ids) => ids.length && this.logger.log(`Returned ${ids.join(', ')} to the queue`),
        (error) => this.logger.error(`releasing the worker's jobs failed: ${error}`),
      );
      this.failures = Date.now() - startedAt > 60_000 ? 1 : this.failures + 1;
      const delay = Math.min(30_000, 500 * 2 ** (this.failures - 1));
      this.restartTimer = setTimeout(() => this.spawn(), delay);
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    // Half the deadline at most: the API still needs time to return the child's job to the queue.
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.min(STOP_GRACE_MS, this.config.shutdownTimeoutMs / 2));
    await exited;
    clearTimeout(timer);
    if (this.childWorkerId) await this.queue.releaseWorker(this.childWorkerId).catch(() => undefined);
  }
}
