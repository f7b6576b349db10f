import { Injectable } from '@nestjs/common';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type WorkerJobOutcome = 'succeeded' | 'failed' | 'canceled' | 'requeued' | 'lost';

/** Training progress as the worker sees it (a subset of the engine's FineTuneProgress). */
export interface WorkerProgressSample {
  step: number;
  elapsedSeconds: number;
  stepsPerSecond: number;
}

/**
 * Prometheus metrics of one fine-tune worker process (names under `saas_worker_`): served on
 * WORKER_METRICS_PORT by a standalone worker, forwarded into the API's /metrics by the embedded one.
 */
@Injectable()
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly jobs = new Counter({
    name: 'saas_worker_fine_tune_jobs_total',
    help: 'Fine-tune jobs this worker started, and how each run ended (requeued: handed back to resume later; lost: another worker or a cancel took it)',
    labelNames: ['event'],
    registers: [this.registry],
  });
  private readonly stepsPerSecond = new Gauge({
    name: 'saas_worker_training_steps_per_second',
    help: 'Training steps per second of the running job (0 when idle)',
    registers: [this.registry],
  });
  private readonly stepDuration = new Histogram({
    name: 'saas_worker_training_step_duration_seconds',
    help: 'Wall time per training step, averaged over each progress report',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly checkpointWrite = new Histogram({
    name: 'saas_worker_checkpoint_write_duration_seconds',
    help: 'Time to write one fine-tune checkpoint (adapter, EMA, optimizer, replay buffer, RNG) to storage',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly policySampling = new Histogram({
    name: 'saas_worker_dro_policy_sampling_duration_seconds',
    help: 'Diffusion-DRO: time to sample one round of policy trajectories into the replay buffer',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly leases = new Counter({
    name: 'saas_worker_lease_renewals_total',
    help: 'Lease renewals of running jobs: renewed, lost (another worker or a cancel took the job) or error',
    labelNames: ['result'],
    registers: [this.registry],
  });
  private last?: WorkerProgressSample;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'saas_worker_' });
    for (const event of ['started', 'succeeded', 'failed', 'canceled', 'requeued', 'lost']) this.jobs.inc({ event }, 0);
    for (const result of ['renewed', 'lost', 'error']) this.leases.inc({ result }, 0);
  }

  jobStarted(): void {
    this.jobs.inc({ event: 'started' });
    this.last = undefined;
  }

  jobEnded(outcome: WorkerJobOutcome): void {
    this.jobs.inc({ event: outcome });
    this.stepsPerSecond.set(0);
    this.last = undefined;
  }

  progress(p: WorkerProgressSample): void {
    this.stepsPerSecond.set(Number.isFinite(p.stepsPerSecond) ? p.stepsPerSecond : 0);
    const previous = this.last;
    this.last = p;
    if (!previous || p.step <= previous.step || p.elapsedSeconds < previous.elapsedSeconds) return;
    const steps = p.step - previous.step;
    const perStep = (p.elapsedSeconds - previous.elapsedSeconds) / steps;
    for (let i = 0; i < steps; i++) this.stepDuration.observe(perStep);
  }

  checkpointWritten(seconds: number): void {
    this.checkpointWrite.observe(seconds);
  }

  policySampled(seconds: number): void {
    this.policySampling.observe(seconds);
  }

  leaseRenewal(result: 'renewed' | 'lost' | 'error'): void {
    this.leases.inc({ result });
  }

  /** Serves GET /metrics on loopback or all interfaces; resolves with the bound port. */
  async serve(port: number, host = '0.0.0.0'): Promise<{ port: number; close(): Promise<void> }> {
    const server: Server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store' }).end(text),
        (error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
    return {
      port: (server.address() as AddressInfo).port,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}
