import { Injectable } from '@nestjs/common';
import { GenerationBatcher } from './generation-batcher.service';
import { InferenceThreadClient } from './inference-thread.client';
import type { GeneratedImages, InferenceRequest, ModelRef, StatsReply } from './inference.protocol';

/**
 * Where the API gets images: a request's adapters are made available on the inference thread (read
 * with `readAdapter` when the thread does not hold them), the request joins a batch with concurrent
 * ones, and the adapters are released when its images are done.
 */
@Injectable()
export class InferenceService {
  constructor(
    private readonly thread: InferenceThreadClient,
    private readonly batcher: GenerationBatcher,
  ) {}

  /** Throws AdapterMismatchError for an adapter that does not fit the model, ModelUnavailableError when it cannot load. */
  async generate(model: ModelRef, request: InferenceRequest, readAdapter: (id: string) => Promise<Uint8Array>): Promise<GeneratedImages> {
    const ids = request.adapters.map((use) => use.id);
    await this.thread.acquireAdapters(model, ids, readAdapter);
    try {
      return await this.batcher.submit(model, request);
    } finally {
      this.thread.releaseAdapters(model, ids);
    }
  }

  /** Adapter cache counters (hits, misses, evictions) and the loaded pipelines. */
  stats(): Promise<StatsReply> {
    return this.thread.stats();
  }

  /** The counters when the thread runs; null before the first generation (metrics must not start it). */
  statsIfRunning(): Promise<StatsReply | null> {
    return this.thread.statsIfRunning();
  }
}
