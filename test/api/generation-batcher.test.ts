import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RuntimeConfig } from '../../src/config/config.module';
import { AdapterCache } from '../../src/inference/adapter-cache';
import { GenerationBatcher } from '../../src/inference/generation-batcher.service';
import type { InferenceThreadClient } from '../../src/inference/inference-thread.client';
import type { GenerateReply, InferenceRequest, ModelRef } from '../../src/inference/inference.protocol';
import { InferenceService } from '../../src/inference/inference.service';

/** Records each engine call and answers after `delayMs`, one fake PNG per image holding its seed. */
function fakeEngine(delayMs = 20) {
  const calls: { model: string; requests: InferenceRequest[] }[] = [];
  const engine = {
    generate: async (model: ModelRef, requests: InferenceRequest[]): Promise<GenerateReply> => {
      calls.push({ model: model.name, requests });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return { results: requests.map((r) => ({ seed: r.seed, width: 16, height: 16, images: Array.from({ length: r.numImages }, () => Uint8Array.of(r.seed)), unknownWords: [] })) };
    },
  };
  return { calls, engine: engine as unknown as InferenceThreadClient };
}

function batcher(engine: InferenceThreadClient, batchWindowMs = 30, batchMaxImages = 4): GenerationBatcher {
  return new GenerationBatcher(engine, { generation: { batchWindowMs, batchMaxImages, adapterCacheSize: 4, threads: 1 } } as RuntimeConfig);
}

const model = (name: string): ModelRef => ({ name, dir: `/models/${name}` });
const request = (seed: number, over: Partial<InferenceRequest> = {}): InferenceRequest => ({
  prompt: `p${seed}`, adapters: [], seed, steps: 4, guidanceScale: 4, scheduler: 'dpmpp-2m', numImages: 1, ...over,
});

describe('generation batcher', () => {
  it('serves requests arriving within the window in one engine call, per base model', async () => {
    const { calls, engine } = fakeEngine();
    const b = batcher(engine);
    const results = await Promise.all([
      b.submit(model('a'), request(1)),
      b.submit(model('a'), request(2, { adapters: [{ id: 'x', scale: 1 }] })),
      b.submit(model('b'), request(3)),
      b.submit(model('a'), request(4, { scheduler: 'ddim' })),
    ]);
    assert.deepEqual(results.map((r) => r.seed), [1, 2, 3, 4]);
    assert.deepEqual(calls.map((c) => [c.model, c.requests.map((r) => r.seed)]), [['a', [1, 2, 4]], ['b', [3]]]);
    assert.deepEqual(b.stats(), { engineCalls: 2, requests: 4, images: 4, maxRequestsPerCall: 3, requestsPerCall: { 1: 1, 3: 1 } });
  });

  it('caps a call at the image limit and runs the rest next, one call at a time', async () => {
    const { calls, engine } = fakeEngine();
    const b = batcher(engine, 1000, 4);
    // Four images fill a batch: no need to wait for the (long) window.
    const started = Date.now();
    await Promise.all([b.submit(model('a'), request(1, { numImages: 3 })), b.submit(model('a'), request(2)), b.submit(model('a'), request(3, { numImages: 2 }))]);
    assert.ok(Date.now() - started < 900, 'a full batch does not wait for the window');
    assert.deepEqual(calls.map((c) => c.requests.map((r) => r.seed)), [[1, 2], [3]]);
  });

  it('batches stochastic (DDPM) requests like any other: the engine seeds their noise per request', async () => {
    const { calls, engine } = fakeEngine();
    const b = batcher(engine, 20, 16);
    await Promise.all([
      b.submit(model('a'), request(1, { scheduler: 'ddpm' })),
      b.submit(model('a'), request(2, { scheduler: 'ddpm' })),
      b.submit(model('a'), request(4)),
    ]);
    assert.deepEqual(calls.map((c) => c.requests.map((r) => r.seed)), [[1, 2, 4]]);
  });

  it('fails every request of a failed call, and keeps serving', async () => {
    let fail = true;
    const engine = {
      generate: async (_model: ModelRef, requests: InferenceRequest[]) => {
        if (fail) throw new Error('engine down');
        return { results: requests.map((r) => ({ seed: r.seed, width: 16, height: 16, images: [], unknownWords: [] })) };
      },
    } as unknown as InferenceThreadClient;
    const b = batcher(engine, 5);
    const outcomes = await Promise.allSettled([b.submit(model('a'), request(1)), b.submit(model('a'), request(2))]);
    assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected']);
    fail = false;
    assert.equal((await b.submit(model('a'), request(3))).seed, 3);
  });
});

describe('inference service', () => {
  /** The thread as the service sees it: acquisitions, releases and engine calls, in order. */
  function fakeThread(failGenerate = false) {
    const events: string[] = [];
    const thread = {
      acquireAdapters: async (_model: ModelRef, ids: string[], read: (id: string) => Promise<Uint8Array>) => {
        for (const id of ids) await read(id);
        events.push(`acquire ${ids.join(',')}`);
      },
      releaseAdapters: (_model: ModelRef, ids: string[]) => events.push(`release ${ids.join(',')}`),
      generate: async (_model: ModelRef, requests: InferenceRequest[]): Promise<GenerateReply> => {
        events.push(`generate ${requests.map((r) => r.seed).join(',')}`);
        if (failGenerate) throw new Error('engine down');
        return { results: requests.map((r) => ({ seed: r.seed, width: 16, height: 16, images: [Uint8Array.of(r.seed)], unknownWords: ['x'] })) };
      },
    } as unknown as InferenceThreadClient;
    return { events, thread };
  }
  const service = (thread: InferenceThreadClient) => new InferenceService(thread, batcher(thread, 5));

  it('acquires the adapters, generates in a batch and releases them', async () => {
    const { events, thread } = fakeThread();
    const read: string[] = [];
    const result = await service(thread).generate(model('a'), request(7, { adapters: [{ id: 'x', scale: 1 }, { id: 'y', scale: 0.5 }] }), async (id) => {
      read.push(id);
      return Uint8Array.of(0);
    });
    assert.deepEqual(result, { seed: 7, width: 16, height: 16, images: [Uint8Array.of(7)], unknownWords: ['x'] });
    assert.deepEqual(read, ['x', 'y']);
    assert.deepEqual(events, ['acquire x,y', 'generate 7', 'release x,y']);
  });

  it('releases the adapters when the engine call fails', async () => {
    const { events, thread } = fakeThread(true);
    await assert.rejects(service(thread).generate(model('a'), request(8, { adapters: [{ id: 'x', scale: 1 }] }), async () => Uint8Array.of(0)), /engine down/);
    assert.deepEqual(events, ['acquire x', 'generate 8', 'release x']);
  });
});

describe('adapter cache', () => {
  it('evicts the least recently used unpinned entries and counts hits and misses', () => {
    const cache = new AdapterCache<string>(2);
    assert.equal(cache.acquire('a'), undefined);
    cache.insertPinned('a', 'A');
    cache.insertPinned('b', 'B');
    cache.release('a');
    cache.release('b');
    assert.equal(cache.acquire('a'), 'A');
    cache.release('a');
    cache.insertPinned('c', 'C');
    cache.release('c');
    assert.equal(cache.peek('b'), undefined, 'b was the least recently used');
    assert.deepEqual(cache.stats(), { size: 2, capacity: 2, pinned: 0, hits: 1, misses: 1, evictions: 1 });
  });

  it('never evicts a pinned adapter, even past its capacity', () => {
    const cache = new AdapterCache<string>(1);
    cache.insertPinned('a', 'A');
    cache.insertPinned('b', 'B');
    assert.deepEqual([cache.peek('a'), cache.peek('b'), cache.stats().size], ['A', 'B', 2]);
    cache.release('a');
    assert.equal(cache.peek('a'), undefined);
    assert.equal(cache.peek('b'), 'B');
  });
});
