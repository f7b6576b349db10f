import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Client } from 'pg';
import { createSaasClient, multipart, SaasClient } from '../../clients/typescript';
import { png } from '../support/images';
import { describeScaleOut, freshRedisUrl, startWorkerProcess, stopWorkerProcess, WorkerProcess } from '../support/scale-out';
import { startServerProcess, ServerProcess } from '../support/server-process';
import { waitFor } from '../support/sse';
import { createPostgresDatabase, TestDatabase } from '../support/test-database';
import { writeTinyModel } from '../support/tiny-model';
import { startS3Server, TestS3Server } from '../support/s3-server';
import { LocalStorageDriver } from '../../src/storage/local-storage.driver';
import { S3StorageDriver } from '../../src/storage/s3-storage.driver';
import { StoragePort } from '../../src/storage/storage.port';
import { adaptersPrefix, fineTuneAdapterKey, fineTuneCheckpointPrefix } from '../../src/storage/storage-keys';

const ADMIN_TOKEN = 'scale-out-admin-token-0123456789';
/** Long enough to kill its worker mid-run after a checkpoint; tiny enough to finish in seconds. */
const DRO = { steps: 60, batchSize: 2, samplingSteps: 2, bufferBatch: 2 };
const LEASE_S = 30;

interface JobRow {
  status: string;
  step: number;
  worker_id: string | null;
  attempts: number;
}

/**
 * Two deployments: processes sharing DATA_DIR (local storage), and processes with a DATA_DIR each and
 * an S3-compatible bucket (s3rver on loopback) for every blob and checkpoint.
 */
for (const storageKind of ['shared DATA_DIR', 'S3 bucket'] as const) {
describeScaleOut(`scale-out on PostgreSQL + Redis (${storageKind}): an API with EMBEDDED_WORKER=false and two worker processes`, () => {
  let root: string;
  let s3: TestS3Server | undefined;
  /** The store every process uses, opened by the test to check what is in it. */
  let storage: StoragePort;
  /** A worker's environment: with S3, its own DATA_DIR (nothing shared but the database, Redis and the bucket). */
  const workerEnv = (id: string) => (s3 ? { ...env, DATA_DIR: join(root, `data-${id}`) } : env);
  let database: TestDatabase;
  let env: Record<string, string>;
  let server: ServerProcess;
  const workers: WorkerProcess[] = [];
  let pg: Client;
  let api: SaasClient;
  let apiKey: string;
  let datasetId: string;
  let firstAdapterId: string;

  const row = async (id: string): Promise<JobRow> => (await pg.query('SELECT status, step, worker_id, attempts FROM fine_tunes WHERE id = $1', [id])).rows[0];
  const startApi = () => startServerProcess({ ...env, EMBEDDED_WORKER: 'false', ADMIN_TOKEN });

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'saas-scale-out-'));
    database = await createPostgresDatabase();
    env = {
      DATABASE_URL: (database.config as { url: string }).url,
      REDIS_URL: await freshRedisUrl(3),
      DATA_DIR: join(root, 'data'),
      MODELS_DIR: join(root, 'models'),
      // Longer than the worker's start of a DRO job, which builds its training graph on the event loop
      // (about 17 s on 2 cores with the default targets) and renews no lease meanwhile.
      WORKER_LEASE_S: String(LEASE_S),
      WORKER_POLL_MS: '200',
      FINE_TUNE_CHECKPOINT_EVERY: '2',
      TRAINING_THREADS: '1',
      INFERENCE_THREADS: '1',
      // The test polls the API often; the Redis rate limiter still sees every request.
      RATE_LIMIT_PER_MINUTE: '100000',
    };
    if (storageKind === 'S3 bucket') {
      s3 = await startS3Server();
      Object.assign(env, s3.env('saas'));
      storage = new S3StorageDriver(s3.options('saas'));
    } else {
      storage = new LocalStorageDriver(join(env.DATA_DIR, 'objects'));
    }
    await writeTinyModel(env.MODELS_DIR);
    server = await startApi();
    pg = new Client({ connectionString: env.DATABASE_URL });
    await pg.connect();
    const admin = createSaasClient({ baseUrl: server.baseUrl, apiKey: ADMIN_TOKEN });
    apiKey = (await admin.POST('/v1/tenants', { body: { name: 'Scale' } })).data!.apiKey;
    api = createSaasClient({ baseUrl: server.baseUrl, apiKey });
    datasetId = (await api.POST('/v1/datasets', { body: { name: 'board' } })).data!.id;
    const parts: Parameters<typeof multipart>[0] = [];
    for (let i = 0; i < 4; i++) parts.push(['images', await png(32, 32, { r: 220, g: 60 * i, b: 40 }, i), `b-${i}.png`, 'image/png']);
    parts.push(['captions', JSON.stringify(['red heart', 'cat face', 'sun', 'red heart face'])]);
    const upload = await api.POST('/v1/datasets/{id}/images', { params: { path: { id: datasetId } }, ...multipart(parts) });
    assert.equal(upload.data?.added.length, 4, JSON.stringify(upload.error));
    workers.push(startWorkerProcess('worker-a', workerEnv('worker-a')), startWorkerProcess('worker-b', workerEnv('worker-b')));
  });

  after(async () => {
    for (const w of workers) await stopWorkerProcess(w);
    await server?.stop();
    await pg?.end();
    await database?.drop();
    await s3?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('a worker killed with SIGKILL mid-training: the other resumes from the checkpoint and registers exactly one adapter', async (t) => {
    const created = await api.POST('/v1/fine-tunes', { body: { datasetId, method: 'dro', hyperparameters: DRO } });
    assert.equal(created.response.status, 201, JSON.stringify(created.error));
    const id = created.data!.id;

    const running = await waitFor(async () => {
      const r = await row(id);
      return r.status === 'running' && r.step >= 3 && r.worker_id ? r : undefined;
    }, 'the job to pass its first checkpoint', 60_000, 20);
    const victim = workers.find((w) => w.id === running.worker_id)!;
    const survivor = workers.find((w) => w !== victim)!;
    assert.ok(victim, `held by ${running.worker_id}`);
    victim.child.kill('SIGKILL');
    const killedAt = performance.now();
    assert.equal((await victim.exited).signal, 'SIGKILL');

    const takenOver = await waitFor(async () => ((await row(id)).worker_id === survivor.id ? performance.now() : undefined), 'the other worker to take the job', 3 * LEASE_S * 1000, 20);
    const done = await waitFor(async () => {
      const r = await row(id);
      return ['succeeded', 'failed', 'canceled'].includes(r.status) ? r : undefined;
    }, 'the job to finish', 120_000, 50);
    const failoverS = (takenOver - killedAt) / 1000;
    t.diagnostic(`failover: ${failoverS.toFixed(2)} s from SIGKILL at step ${running.step} to the job running on ${survivor.id} (WORKER_LEASE_S=${LEASE_S})`);
    console.log(JSON.stringify({ failoverSeconds: Number(failoverS.toFixed(2)), killedAtStep: running.step, leaseSeconds: LEASE_S }));

    assert.equal(done.status, 'succeeded', survivor.output().slice(-2000));
    assert.equal(done.attempts, 2);
    const job = (await api.GET('/v1/fine-tunes/{id}', { params: { path: { id } } })).data!;
    assert.deepEqual(job.progress, { step: DRO.steps, totalSteps: DRO.steps });
    const resumed = /resumes from its checkpoint at step (\d+)/.exec(survivor.output());
    assert.ok(resumed && Number(resumed[1]) > 0, `the survivor resumed from a checkpoint:\n${survivor.output().slice(-2000)}`);
    assert.equal((job.metrics as Record<string, unknown>).resumedFromStep, Number(resumed![1]));

    const adapters = await pg.query('SELECT id, storage_key FROM adapters WHERE fine_tune_id = $1', [id]);
    assert.equal(adapters.rows.length, 1);
    assert.equal(adapters.rows[0].id, job.adapterId);
    // No orphans: the tenant's adapters hold exactly that file; the checkpoint is one manifest and one state file.
    const tenantId = (await pg.query('SELECT tenant_id FROM fine_tunes WHERE id = $1', [id])).rows[0].tenant_id;
    assert.deepEqual(await storage.list(adaptersPrefix(tenantId)), [fineTuneAdapterKey(tenantId, id)]);
    const checkpoint = (await storage.list(fineTuneCheckpointPrefix(tenantId, id))).map((k) => k.split('/').pop()).sort();
    assert.deepEqual(checkpoint, ['checkpoint.json', `state-${DRO.steps}.safetensors`]);
    const weights = await fetch(`${server.baseUrl}/v1/adapters/${job.adapterId}/weights`, { headers: { Authorization: `Bearer ${apiKey}` } });
    assert.equal(weights.status, 200);

    // The killed worker, restarted, joins again and takes the next job.
    workers.push(startWorkerProcess('worker-a2', workerEnv('worker-a2')));
    firstAdapterId = job.adapterId!;
  });

  it('restarting the API loses nothing: jobs keep training, and everything reads back the same', async () => {
    const created = await api.POST('/v1/fine-tunes', { body: { datasetId, method: 'sft', hyperparameters: { steps: 30, batchSize: 2 } } });
    const id = created.data!.id;
    await waitFor(async () => ((await row(id)).status === 'running' ? true : undefined), 'the job to start', 60_000, 20);
    const before = {
      datasets: (await api.GET('/v1/datasets')).data,
      adapters: (await api.GET('/v1/adapters')).data,
    };
    const stopped = await server.stop();
    assert.ok(stopped.code === 0 || stopped.signal === 'SIGTERM', JSON.stringify(stopped));
    // Queued while no API runs? Nothing to queue through; the job in flight keeps going on its worker.
    server = await startApi();
    api = createSaasClient({ baseUrl: server.baseUrl, apiKey });
    assert.deepEqual((await api.GET('/v1/datasets')).data, before.datasets);
    // Every adapter reads back unchanged; the job in flight may have registered its own meanwhile.
    const afterRestart = (await api.GET('/v1/adapters')).data!.data;
    const beforeIds = new Set(before.adapters!.data.map((a) => a.id));
    assert.deepEqual(afterRestart.filter((a) => beforeIds.has(a.id)), before.adapters!.data);
    assert.deepEqual(afterRestart.filter((a) => !beforeIds.has(a.id)).map((a) => a.fineTuneId), afterRestart.length > beforeIds.size ? [id] : []);
    const queuedAfterRestart = await api.POST('/v1/fine-tunes', { body: { datasetId, method: 'sft', hyperparameters: { steps: 4, batchSize: 2 } } });
    assert.equal(queuedAfterRestart.response.status, 201);
    for (const jobId of [id, queuedAfterRestart.data!.id]) {
      const done = await waitFor(async () => {
        const r = (await api.GET('/v1/fine-tunes/{id}', { params: { path: { id: jobId } } })).data!;
        return ['succeeded', 'failed', 'canceled'].includes(r.status) ? r : undefined;
      }, `fine-tune ${jobId} to finish after the restart`, 120_000, 100);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      assert.ok(done.adapterId);
    }
  });

  it('an online round on a worker of its own continues the adapter with the optimizer state from storage', async () => {
    // Only the new worker runs, so it is the one that takes the round.
    while (workers.length > 0) await stopWorkerProcess(workers.pop()!);
    const third = startWorkerProcess('worker-c', workerEnv('worker-c'));
    workers.push(third);
    const created = await api.POST('/v1/fine-tunes', { body: { datasetId, method: 'sft', initAdapterId: firstAdapterId, hyperparameters: { steps: 4, batchSize: 2 } } });
    assert.equal(created.response.status, 201, JSON.stringify(created.error));
    const done = await waitFor(async () => {
      const r = (await api.GET('/v1/fine-tunes/{id}', { params: { path: { id: created.data!.id } } })).data!;
      return ['succeeded', 'failed', 'canceled'].includes(r.status) ? r : undefined;
    }, 'the online round to finish', 120_000, 100);
    assert.equal(done.status, 'succeeded', third.output().slice(-2000));
    const firstJob = (await pg.query('SELECT fine_tune_id FROM adapters WHERE id = $1', [firstAdapterId])).rows[0].fine_tune_id;
    assert.match(third.output(), new RegExp(`continues adapter ${firstAdapterId} with the optimizer state of fine-tune ${firstJob} \\(AdamW step [1-9][0-9]*\\)`));
  });
});
}
