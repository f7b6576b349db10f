import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkerMetrics } from '../../src/metrics/worker-metrics';
import { png } from '../support/images';
import { startInProcessWorker } from '../support/in-process-worker';
import { startServerProcess } from '../support/server-process';
import { waitFor } from '../support/sse';
import { writeTinyModel } from '../support/tiny-model';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';

/** The value of one sample in Prometheus text, e.g. sample(text, 'saas_worker_fine_tune_jobs_total{event="started"}'). */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no sample ${name} in:\n${text.slice(0, 2000)}`);
  return Number(line.slice(name.length + 1));
}

describe('worker metrics', () => {
  it('turns progress reports into step durations and serves the text format on GET /metrics', async () => {
    const metrics = new WorkerMetrics();
    metrics.jobStarted();
    metrics.progress({ step: 2, elapsedSeconds: 1, stepsPerSecond: 2 });
    metrics.progress({ step: 6, elapsedSeconds: 3, stepsPerSecond: 2.5 }); // 4 steps of 0.5 s
    metrics.checkpointWritten(0.2);
    metrics.leaseRenewal('renewed');
    metrics.jobEnded('succeeded');
    const server = await metrics.serve(0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      const text = await res.text();
      assert.equal(sample(text, 'saas_worker_training_step_duration_seconds_count'), 4);
      assert.equal(sample(text, 'saas_worker_training_step_duration_seconds_sum'), 2);
      assert.equal(sample(text, 'saas_worker_training_steps_per_second'), 0, 'idle after the job ended');
      assert.equal(sample(text, 'saas_worker_fine_tune_jobs_total{event="succeeded"}'), 1);
      assert.equal(sample(text, 'saas_worker_checkpoint_write_duration_seconds_count'), 1);
      assert.equal(sample(text, 'saas_worker_lease_renewals_total{result="renewed"}'), 1);
      assert.ok(sample(text, 'saas_worker_process_resident_memory_bytes') > 0);
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/other`)).status, 404);
    } finally {
      await server.close();
    }
  });

  describe('on a worker running a DRO fine-tune', () => {
    let modelsDir: string;
    let t: TestApp;
    before(async () => {
      modelsDir = mkdtempSync(join(tmpdir(), 'saas-wm-models-'));
      await writeTinyModel(modelsDir);
      t = await startTestApp({ modelsDir, worker: { checkpointEvery: 2, leaseMs: 6_000 } });
    });
    after(async () => {
      await t.close();
      rmSync(modelsDir, { recursive: true, force: true });
    });

    it('counts the job, its steps, checkpoints, policy sampling and lease renewals', async () => {
      const { apiKey } = await createTenant(t, 'Metrics');
      const ds = await t.http().post('/v1/datasets').set(...bearer(apiKey)).send({ name: 'm' });
      let upload = t.http().post(`/v1/datasets/${ds.body.id}/images`).set(...bearer(apiKey));
      for (let i = 0; i < 4; i++) upload = upload.attach('images', await png(24, 24, { r: 50 * i, g: 200, b: 90 }, i), `i${i}.png`);
      assert.equal((await upload.field('captions', JSON.stringify(['red heart', 'cat face', 'sun', 'tree']))).body.added.length, 4);
      const worker = await startInProcessWorker(t.config);
      try {
        const created = await t.http().post('/v1/fine-tunes').set(...bearer(apiKey)).send({ datasetId: ds.body.id, method: 'dro', hyperparameters: { steps: 12, batchSize: 2, samplingSteps: 2, bufferBatch: 2 } });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        worker.worker.start();
        await waitFor(async () => {
          const job = (await t.http().get(`/v1/fine-tunes/${created.body.id}`).set(...bearer(apiKey))).body;
          return ['succeeded', 'failed', 'canceled'].includes(job.status) ? job : undefined;
        }, 'the fine-tune to finish', 120_000, 50);
        const text = await worker.context.get(WorkerMetrics).registry.metrics();
        assert.equal(sample(text, 'saas_worker_fine_tune_jobs_total{event="started"}'), 1);
        assert.equal(sample(text, 'saas_worker_fine_tune_jobs_total{event="succeeded"}'), 1);
        assert.ok(sample(text, 'saas_worker_training_step_duration_seconds_count') >= 1);
        assert.ok(sample(text, 'saas_worker_checkpoint_write_duration_seconds_count') >= 6, 'a checkpoint every 2 of 12 steps');
        assert.ok(sample(text, 'saas_worker_dro_policy_sampling_duration_seconds_count') >= 1);
        assert.ok(sample(text, 'saas_worker_lease_renewals_total{result="lost"}') === 0);
      } finally {
        await worker.close();
      }
    });
  });

  it("shows the embedded worker's metrics in the API's /metrics", async () => {
    const root = mkdtempSync(join(tmpdir(), 'saas-wm-embedded-'));
    const server = await startServerProcess({ DATA_DIR: join(root, 'data'), MODELS_DIR: join(root, 'models'), ADMIN_TOKEN: 'embedded-metrics-admin-0123456789' });
    try {
      // The worker child starts after the API listens; its metrics appear once it answers.
      const text = await waitFor(async () => {
        const body = await (await fetch(`${server.baseUrl}/metrics`)).text();
        return body.includes('saas_worker_fine_tune_jobs_total') ? body : undefined;
      }, "the embedded worker's metrics", 30_000, 200);
      assert.equal(sample(text, 'saas_worker_fine_tune_jobs_total{event="started"}'), 0);
      assert.ok(sample(text, 'saas_worker_process_resident_memory_bytes') > 0);
      assert.ok(text.includes('saas_http_request_duration_seconds'), "the API's own metrics stay");
    } finally {
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
