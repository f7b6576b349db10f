import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSaasClient, multipart, SaasClient } from '../../clients/typescript';
import { png } from '../support/images';
import { startServerProcess, ServerProcess } from '../support/server-process';
import { readSse, waitFor } from '../support/sse';
import { writeTinyModel } from '../support/tiny-model';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const TINY_DRO = { steps: 3, batchSize: 2, samplingSteps: 2, bufferBatch: 2 };
/** Long enough to probe /health a few dozen times while the worker trains. */
const PROBED_DRO = { ...TINY_DRO, steps: 12 };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The pid of the newest embedded worker, from the server's log. */
function workerPid(server: ServerProcess): number | undefined {
  const pids = [...server.output().matchAll(/Started fine-tune worker \(pid (\d+)\)/g)];
  return pids.length ? Number(pids[pids.length - 1][1]) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the style loop end to end: upload, DRO fine-tune in the embedded worker, generate, feedback, next round', () => {
  let root: string;
  let server: ServerProcess;
  let api: SaasClient;
  let apiKey: string;
  let datasetId: string;
  let adapterId: string;
  let generationId: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'saas-loop-'));
    const env = { DATA_DIR: join(root, 'data'), MODELS_DIR: join(root, 'models'), FINE_TUNE_CHECKPOINT_EVERY: '2' };
    await writeTinyModel(env.MODELS_DIR);
    server = await startServerProcess(env);
    const adminToken = readFileSync(join(env.DATA_DIR, 'admin-token'), 'utf8').trim();
    const admin = createSaasClient({ baseUrl: server.baseUrl, apiKey: adminToken });
    const tenant = await admin.POST('/v1/tenants', { body: { name: 'Acme' } });
    apiKey = tenant.data!.apiKey;
    api = createSaasClient({ baseUrl: server.baseUrl, apiKey });
  });

  after(async () => {
    const pid = workerPid(server);
    const ended = await server?.stop();
    assert.ok(ended.code === 0 || ended.signal === 'SIGTERM', JSON.stringify(ended));
    if (pid) assert.equal(alive(pid), false, 'the worker stops with the server');
    rmSync(root, { recursive: true, force: true });
  });

  it('uploads a mood board', async () => {
    const dataset = await api.POST('/v1/datasets', { body: { name: 'Acme mood board' } });
    datasetId = dataset.data!.id;
    const parts: Parameters<typeof multipart>[0] = [];
    for (let i = 0; i < 4; i++) parts.push(['images', await png(32, 32, { r: 220, g: 60 * i, b: 40 }, i), `board-${i}.png`, 'image/png']);
    parts.push(['captions', JSON.stringify(['red heart', 'cat face', 'sun', 'red heart face'])]);
    const upload = await api.POST('/v1/datasets/{id}/images', { params: { path: { id: datasetId } }, ...multipart(parts) });
    assert.equal(upload.data!.added.length, 4, JSON.stringify(upload.error));
  });

  it('trains a DRO adapter in the worker process while /health and generations stay responsive', async (t) => {
    const created = await api.POST('/v1/fine-tunes', { body: { datasetId, method: 'dro', hyperparameters: PROBED_DRO } });
    assert.equal(created.response.status, 201, JSON.stringify(created.error));
    assert.equal(created.data!.status, 'queued');
    const id = created.data!.id;

    // While the job runs: loopback /health probes and a stream of generations on the API process.
    let running = true;
    let trainingStartedAt = Infinity;
    const healthDuringTraining: number[] = [];
    const probes = (async () => {
      while (running) {
        const started = performance.now();
        const res = await fetch(`${server.baseUrl}/health`);
        const ms = performance.now() - started;
        assert.equal(res.status, 200);
        if (started >= trainingStartedAt) healthDuringTraining.push(ms);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const generations = (async () => {
      let count = 0;
      while (running) {
        const results = await Promise.all([0, 1].map((k) => api.POST('/v1/generations', { body: { prompt: 'sun', seed: count * 2 + k, numImages: 2 } })));
        for (const r of results) assert.equal(r.response.status, 201, `${JSON.stringify(r.error)}\nserver output:\n${server.output().slice(-4000)}`);
        count += 2;
        // Paced under the per-key generation limit (60 a minute) however fast the base model runs.
        await new Promise((resolve) => setTimeout(resolve, 2500));
      }
      return count;
    })();

    const events = await readSse(`${server.baseUrl}/v1/fine-tunes/${id}/events`, apiKey, {
      timeoutMs: 60_000,
      onEvent: (e) => {
        if (e.event === 'status' && e.data.status === 'running') trainingStartedAt = Math.min(trainingStartedAt, performance.now());
      },
    });
    running = false;
    const [, generated] = await Promise.all([probes, generations]);

    const names = events.events.map((e) => e.event);
    assert.equal(names.at(-1), 'done', names.join(','));
    const done = events.events.at(-1)!.data;
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.deepEqual(done.progress, { step: 12, totalSteps: 12 });
    assert.ok(events.events.some((e) => e.event === 'progress' && e.data.step === 12));
    adapterId = done.adapterId;

    assert.ok(healthDuringTraining.length >= 3, `${healthDuringTraining.length} health probes while training`);
    const worst = Math.max(...healthDuringTraining);
    t.diagnostic(`/health during training and ${generated} generations: p50 ${percentile(healthDuringTraining, 50).toFixed(1)} ms, max ${worst.toFixed(1)} ms over ${healthDuringTraining.length} probes`);
    assert.ok(worst < 500, `/health took ${worst.toFixed(0)} ms while training`);

    const adapter = await api.GET('/v1/adapters/{id}', { params: { path: { id: adapterId } } });
    assert.deepEqual([adapter.data!.source, adapter.data!.fineTuneId], ['fine-tune', id]);
    const job = await api.GET('/v1/fine-tunes/{id}', { params: { path: { id } } });
    assert.equal(job.data!.adapterId, adapterId);
  });

  it('generates with the adapter and serves the PNG', async (t) => {
    const latencies: number[] = [];
    for (let i = 0; i < 8; i++) {
      const started = performance.now();
      const res = await api.POST('/v1/generations', { body: { prompt: 'red heart', seed: 100 + i, adapters: [{ id: adapterId, scale: 1 }] } });
      latencies.push(performance.now() - started);
      assert.equal(res.response.status, 201, JSON.stringify(res.error));
      generationId = res.data!.id;
      assert.ok(Buffer.from(res.data!.images[0].data!, 'base64').subarray(0, 8).equals(PNG_SIGNATURE));
    }
    t.diagnostic(`generation (1 image, 20 steps, tiny model, with adapter): p50 ${percentile(latencies, 50).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`);
    const image = await api.GET('/v1/generations/{id}/images/{index}', { params: { path: { id: generationId, index: 0 }, query: { upscale: 2 } }, parseAs: 'arrayBuffer' });
    assert.equal(image.response.status, 200);
    assert.equal(image.response.headers.get('content-type'), 'image/png');
    assert.ok(Buffer.from(image.data as ArrayBuffer).subarray(0, 8).equals(PNG_SIGNATURE));
  });

  it('turns kept images into demonstrations and trains the next round from the adapter', async () => {
    const liked = await api.POST('/v1/generations/{id}/feedback', { params: { path: { id: generationId } }, body: { imageIndex: 0, signal: 'liked' } });
    assert.equal(liked.response.status, 201, JSON.stringify(liked.error));
    const added = await api.POST('/v1/datasets/{id}/images/from-feedback', { params: { path: { id: datasetId } }, body: { adapterId } });
    assert.deepEqual(added.data!.added.map((i) => [i.caption, i.source]), [['red heart', 'feedback']]);

    const next = await api.POST('/v1/fine-tunes', { body: { datasetId, method: 'dro', initAdapterId: adapterId, hyperparameters: TINY_DRO } });
    assert.equal(next.response.status, 201, JSON.stringify(next.error));
    const done = await waitFor(async () => {
      const job = await api.GET('/v1/fine-tunes/{id}', { params: { path: { id: next.data!.id } } });
      return ['succeeded', 'failed', 'canceled'].includes(job.data!.status) ? job.data! : undefined;
    }, 'the next round', 60_000, 100);
    assert.equal(done.status, 'succeeded', done.error ?? '');
    assert.notEqual(done.adapterId, adapterId);
  });

  it('restarts a worker that dies mid-job; the job resumes from its checkpoint', async () => {
    const created = await api.POST('/v1/fine-tunes', { body: { datasetId, method: 'sft', hyperparameters: { steps: 2000, batchSize: 1 } } });
    const id = created.data!.id;
    const get = async () => (await api.GET('/v1/fine-tunes/{id}', { params: { path: { id } } })).data!;
    await waitFor(async () => ((await get()).progress.step >= 4 ? true : undefined), 'training to pass a checkpoint', 60_000, 50);
    const pid = workerPid(server)!;
    process.kill(pid, 'SIGKILL');
    const resumed = await waitFor(async () => {
      const job = await get();
      return job.attempts === 2 && job.status === 'running' ? job : undefined;
    }, 'a new worker to resume the job', 60_000, 100);
    assert.notEqual(workerPid(server), pid, 'a new worker process');
    assert.ok(resumed.progress.step >= 2, 'resumed from a checkpoint, not from scratch');
    const canceled = await api.POST('/v1/fine-tunes/{id}/cancel', { params: { path: { id } } });
    assert.equal(canceled.response.status, 200);
    await waitFor(async () => ((await get()).status === 'canceled' ? true : undefined), 'cancel', 30_000, 100);
  });
});
