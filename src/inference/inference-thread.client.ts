import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { AdapterMismatchError, ModelUnavailableError } from './inference.errors';
import type { AcquireReply, GenerateReply, InferenceCall, InferenceReplyMessage, InferenceRequest, ModelRef, StatsReply } from './inference.protocol';

const THREAD_ENTRY = join(__dirname, 'inference.thread.js');

/**
 * The handle on the inference thread (started on first use, restarted if it dies). The thread keeps
 * acquired adapters parsed in an LRU cache, so a popular adapter is read from storage and parsed once;
 * InferenceService acquires them before a request is queued and releases them after.
 */
@Injectable()
export class InferenceThreadClient implements OnModuleDestroy {
  private readonly logger = new Logger('Inference');
  private thread?: Worker;
  private nextCallId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(@Inject(APP_CONFIG) private readonly config: RuntimeConfig) {}

  /**
   * Makes the adapters usable by generations on this model until released; `read` loads an adapter's
   * file when the thread does not hold it. Throws AdapterMismatchError (nothing stays acquired).
   */
  async acquireAdapters(model: ModelRef, ids: string[], read: (id: string) => Promise<Uint8Array>): Promise<void> {
    if (ids.length === 0) return;
    const first = await this.call<AcquireReply>({ type: 'acquire', model, adapters: ids.map((id) => ({ id })) });
    const missing = [...new Set(first.missing)];
    const held = ids.filter((id) => !first.missing.includes(id));
    let errors: Record<string, string> = {};
    if (missing.length > 0) {
      try {
        const files = await Promise.all(missing.map(async (id) => ({ id, bytes: await read(id) })));
        // Every occurrence is one acquisition, so an adapter used twice in a request is pinned twice.
        const uses = ids.filter((id) => missing.includes(id)).map((id) => files.find((f) => f.id === id)!);
        errors = (await this.call<AcquireReply>({ type: 'acquire', model, adapters: uses })).errors;
      } catch (error) {
        this.releaseAdapters(model, held);
        throw error;
      }
    }
    const failed = Object.keys(errors);
    if (failed.length > 0) {
      this.releaseAdapters(model, ids.filter((id) => !failed.includes(id)));
      throw new AdapterMismatchError(failed[0], errors[failed[0]]);
    }
  }

  releaseAdapters(model: ModelRef, ids: string[]): void {
    if (ids.length === 0) return;
    this.call({ type: 'release', model, ids }).catch(() => undefined);
  }

  /** One engine call for the whole batch. */
  generate(model: ModelRef, requests: InferenceRequest[]): Promise<GenerateReply> {
    return this.call<GenerateReply>({ type: 'generate', model, requests });
  }

  /** Adapter cache counters (hits, misses, evictions) and the loaded pipelines. */
  stats(): Promise<StatsReply> {
    return this.call<StatsReply>({ type: 'stats' });
  }

  /** The counters when the thread runs; null before the first generation (metrics must not start it). */
  async statsIfRunning(): Promise<StatsReply | null> {
    return this.thread ? this.stats() : null;
  }

  async onModuleDestroy(): Promise<void> {
    const thread = this.thread;
    this.thread = undefined;
    await thread?.terminate();
    for (const [callId, waiter] of this.pending) {
      this.pending.delete(callId);
      waiter.reject(new Error('the server is shutting down'));
    }
  }

  private call<T>(call: InferenceCall): Promise<T> {
    const thread = this.ensureThread();
    const callId = this.nextCallId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(callId, { resolve: resolve as (value: unknown) => void, reject });
      thread.postMessage({ callId, call });
    });
  }

  private ensureThread(): Worker {
    if (this.thread) return this.thread;
    const thread = new Worker(THREAD_ENTRY, {
      workerData: { adapterCacheSize: this.config.generation.adapterCacheSize, threads: this.config.generation.threads, memoryBudgetBytes: this.config.generation.memoryBudgetBytes },
    });
    thread.on('message', (message: InferenceReplyMessage) => {
      const waiter = this.pending.get(message.callId);
      if (!waiter) return;
      this.pending.delete(message.callId);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(message.kind === 'model' ? new ModelUnavailableError(message.error) : new Error(message.error));
    });
    const fail = (error: Error) => {
      if (this.thread !== thread) return;
      this.thread = undefined;
      this.logger.error(`inference thread stopped: ${error.message}`);
      for (const [callId, waiter] of this.pending) {
        this.pending.delete(callId);
        waiter.reject(error);
      }
    };
    thread.on('error', fail);
    thread.on('exit', (code) => fail(new Error(`inference thread exited with code ${code}`)));
    // An idle thread must not keep the process alive.
    thread.unref();
    this.thread = thread;
    return thread;
  }
}
