import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { InferenceThreadClient } from './inference-thread.client';
import type { GeneratedImages, InferenceRequest, ModelRef } from './inference.protocol';

interface Waiting {
  request: InferenceRequest;
  submittedAt: number;
  resolve: (result: GeneratedImages) => void;
  reject: (error: Error) => void;
}

/** One engine call as observers see it (metrics). */
export interface BatchObservation {
  requests: number;
  images: number;
  /** Per request: from submit to its result (or failure), including the batching wait. */
  latenciesMs: number[];
  ok: boolean;
}

/** Requests for one base model: a window gathers them, and one batch runs at a time. */
interface Lane {
  model: ModelRef;
  waiting: Waiting[];
  timer?: NodeJS.Timeout;
  running: boolean;
}

export interface BatchStats {
  /** Engine calls made (one `pipeline.generate` each). */
  engineCalls: number;
  requests: number;
  images: number;
  /** Largest number of requests served by one call. */
  maxRequestsPerCall: number;
  /** Calls by the number of requests they served: { "1": 10, "3": 2 }. */
  requestsPerCall: Record<string, number>;
}

/**
 * Gathers concurrent generation requests for the same base model into one engine call, whatever
 * their tenants and adapters: the first request waits up to GENERATION_BATCH_WINDOW_MS for company,
 * a full batch (GENERATION_BATCH_MAX_IMAGES) goes at once, and requests arriving while a batch runs
 * form the next one. Results do not depend on the batch a request lands in.
 */
@Injectable()
export class GenerationBatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly counters: BatchStats = { engineCalls: 0, requests: 0, images: 0, maxRequestsPerCall: 0, requestsPerCall: {} };
  private readonly observers = new Set<(batch: BatchObservation) => void>();

  constructor(
    private readonly thread: InferenceThreadClient,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
  ) {}

  submit(model: ModelRef, request: InferenceRequest): Promise<GeneratedImages> {
    let lane = this.lanes.get(model.dir);
    if (!lane) {
      lane = { model, waiting: [], running: false };
      this.lanes.set(model.dir, lane);
    }
    return new Promise((resolve, reject) => {
      lane!.waiting.push({ request, submittedAt: performance.now(), resolve, reject });
      this.schedule(lane!);
    });
  }

  /** Called after every engine call; returns the unsubscribe function. */
  observe(listener: (batch: BatchObservation) => void): () => void {
    this.observers.add(listener);
    return () => this.observers.delete(listener);
  }

  stats(): BatchStats {
    return { ...this.counters, requestsPerCall: { ...this.counters.requestsPerCall } };
  }

  private schedule(lane: Lane): void {
    if (lane.running || lane.waiting.length === 0) return;
    const { batchWindowMs, batchMaxImages } = this.config.generation;
    if (batchWindowMs === 0 || this.waitingImages(lane) >= batchMaxImages) {
      void this.flush(lane);
    } else {
      lane.timer ??= setTimeout(() => void this.flush(lane), batchWindowMs);
    }
  }

  private waitingImages(lane: Lane): number {
    return lane.waiting.reduce((sum, w) => sum + w.request.numImages, 0);
  }

  /** Takes what fits in one call, oldest first. */
  private takeBatch(lane: Lane): Waiting[] {
    const max = this.config.generation.batchMaxImages;
    const batch: Waiting[] = [];
    const rest: Waiting[] = [];
    let images = 0;
    for (const waiting of lane.waiting) {
      const { numImages } = waiting.request;
      const fits = batch.length === 0 || images + numImages <= max;
      if (fits) {
        batch.push(waiting);
        images += numImages;
      } else {
        rest.push(waiting);
      }
    }
    lane.waiting = rest;
    return batch;
  }

  private async flush(lane: Lane): Promise<void> {
    clearTimeout(lane.timer);
    lane.timer = undefined;
    if (lane.running || lane.waiting.length === 0) return;
    const batch = this.takeBatch(lane);
    lane.running = true;
    this.record(batch);
    try {
      const reply = await this.thread.generate(lane.model, batch.map((w) => w.request));
      batch.forEach((w, i) => w.resolve(reply.results[i]));
      this.notify(batch, true);
    } catch (error) {
      for (const w of batch) w.reject(error as Error);
      this.notify(batch, false);
    } finally {
      lane.running = false;
      // Whoever arrived during the batch has waited long enough: they go next, together.
      if (lane.waiting.length > 0) void this.flush(lane);
    }
  }

  private notify(batch: Waiting[], ok: boolean): void {
    if (this.observers.size === 0) return;
    const now = performance.now();
    const observation: BatchObservation = {
      requests: batch.length,
      images: batch.reduce((sum, w) => sum + w.request.numImages, 0),
      latenciesMs: batch.map((w) => now - w.submittedAt),
      ok,
    };
    for (const listener of this.observers) listener(observation);
  }

  private record(batch: Waiting[]): void {
    const c = this.counters;
    c.engineCalls += 1;
    c.requests += batch.length;
    c.images += batch.reduce((sum, w) => sum + w.request.numImages, 0);
    c.maxRequestsPerCall = Math.max(c.maxRequestsPerCall, batch.length);
    c.requestsPerCall[batch.length] = (c.requestsPerCall[batch.length] ?? 0) + 1;
  }
}
