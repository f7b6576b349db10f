import { Inject, Injectable, OnModuleDestroy, OnModuleInit, Optional, UnauthorizedException } from '@nestjs/common';
import { secretsEqual } from '../auth/api-key';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { AggregatorRegistry, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { EmbeddedWorkerSupervisor } from '../worker/embedded-worker.supervisor';
import { FineTunesRepository } from '../fine-tunes/fine-tunes.repository';
import { GenerationBatcher } from '../inference/generation-batcher.service';
import { InferenceService } from '../inference/inference.service';

const FINE_TUNE_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

/**
 * Prometheus metrics of one API process, in its own registry (tests run several apps per process).
 * Request latencies and generation batches are observed as they happen; queue gauges and the
 * adapter cache counters are read when Prometheus scrapes, so they cost nothing in between.
 */
@Injectable()
export class MetricsService implements OnModuleInit, OnModuleDestroy {
  readonly registry = new Registry();
  private readonly httpDuration = new Histogram({
    name: 'saas_http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly generationDuration = new Histogram({
    name: 'saas_generation_duration_seconds',
    help: 'Generation request latency in the batcher, including the batching wait',
    labelNames: ['outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  private readonly batchImages = new Histogram({
    name: 'saas_generation_batch_images',
    help: 'Images per engine call',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  private readonly batchRequests = new Histogram({
    name: 'saas_generation_batch_requests',
    help: 'Generation requests served by one engine call',
    buckets: [1, 2, 3, 4, 6, 8, 12, 16],
    registers: [this.registry],
  });
  private unobserve?: () => void;

  constructor(
    private readonly fineTunes: FineTunesRepository,
    private readonly batcher: GenerationBatcher,
    private readonly inference: InferenceService,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
    @Optional() private readonly embeddedWorker?: EmbeddedWorkerSupervisor,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'saas_' });
    // prom-client collects all metrics of a scrape concurrently: both gauges share one query.
    let counts: { at: number; value: Promise<Record<string, number>> } | undefined;
    const countsForScrape = () => {
      if (!counts || Date.now() - counts.at > 250) counts = { at: Date.now(), value: this.fineTunes.countAllByStatus() };
      return counts.value;
    };
    const fineTunesGauge: Gauge = new Gauge({
      name: 'saas_fine_tunes',
      help: 'Fine-tune jobs by status (all tenants), read from the database on scrape',
      labelNames: ['status'],
      registers: [this.registry],
      collect: async () => {
        const current = await countsForScrape();
        for (const status of FINE_TUNE_STATUSES) fineTunesGauge.set({ status }, current[status] ?? 0);
      },
    });
    const queueDepth: Gauge = new Gauge({
      name: 'saas_fine_tune_queue_depth',
      help: 'Fine-tunes waiting for a worker',
      registers: [this.registry],
      collect: async () => queueDepth.set((await countsForScrape()).queued ?? 0),
    });
    const cache = (name: string, help: string, read: (s: { hits: number; misses: number; evictions: number; size: number }) => number) => {
      const gauge: Gauge = new Gauge({
        name,
        help,
        registers: [this.registry],
        collect: async () => {
          const stats = await this.inference.statsIfRunning().catch(() => null);
          gauge.set(stats ? read(stats) : 0);
        },
      });
    };
    // Counters kept by the inference thread; exported as gauges of their running totals (reset with the thread).
    cache('saas_adapter_cache_hits', 'Adapter cache hits in the inference thread', (s) => s.hits);
    cache('saas_adapter_cache_misses', 'Adapter cache misses (adapter read and parsed)', (s) => s.misses);
    cache('saas_adapter_cache_evictions', 'Adapters dropped from the cache', (s) => s.evictions);
    cache('saas_adapter_cache_size', 'Adapters held in the cache', (s) => s.size);
  }

  onModuleInit(): void {
    this.unobserve = this.batcher.observe((batch) => {
      this.batchImages.observe(batch.images);
      this.batchRequests.observe(batch.requests);
      for (const ms of batch.latenciesMs) this.generationDuration.observe({ outcome: batch.ok ? 'ok' : 'error' }, ms / 1000);
    });
  }

  onModuleDestroy(): void {
    this.unobserve?.();
  }

  /** Open unless METRICS_TOKEN is set; then its bearer token is required. */
  assertScrapeAllowed(authorization: string | undefined): void {
    const token = this.config.metricsToken;
    if (!token) return;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match || !secretsEqual(match[1], token)) throw new UnauthorizedException('Invalid or missing METRICS_TOKEN bearer token in the Authorization header');
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status: String(status) }, seconds);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  /** This process's metrics, then the embedded worker's (saas_worker_*) when one runs. */
  async render(): Promise<string> {
    const own = await this.registry.metrics();
    const worker = await this.embeddedWorker?.workerMetrics();
    if (!worker) return own;
    const forwarded = AggregatorRegistry.aggregate([worker]);
    return `${own}\n${await forwarded.metrics()}`;
  }
}

