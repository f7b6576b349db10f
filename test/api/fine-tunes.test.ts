import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataSource } from 'typeorm';
import { DEFAULT_FINE_TUNE_HYPERPARAMETERS, DEFAULT_RECOMMENDED_SCALE } from '../../src/engine';
import { fineTuneCheckpointPrefix } from '../../src/storage/storage-keys';
import { binaryParser } from '../support/binary-parser';
import { png } from '../support/images';
import { startInProcessWorker } from '../support/in-process-worker';
import { readSse, waitFor } from '../support/sse';
import sharp from 'sharp';
import { StoragePort } from '../../src/storage/storage.port';
import { tinyLora, writeTinyModel, writeTinyScorer } from '../support/tiny-model';
import { sql } from '../support/test-database';
import { bearer, createTenant, startTestApp, TestApp } from '../support/test-app';

/** A DRO budget the tiny model trains in well under a second. */
const TINY = { batchSize: 2, samplingSteps: 2, bufferBatch: 2 };

describe('fine-tunes', () => {
  let modelsDir: string;
  let t: TestApp;
  let key: string;
  let otherKey: string;
  let datasetId: string;
  let smallDatasetId: string;
  let otherDatasetId: string;

  const create = (apiKey: string, body: unknown) => t.http().post('/v1/fine-tunes').set(...bearer(apiKey)).send(body as object);
  const get = async (id: string) => (await t.http().get(`/v1/fine-tunes/${id}`).set(...bearer(key))).body;

  async function dataset(apiKey: string, name: string, images: number, seed: number): Promise<string> {
    const created = await t.http().post('/v1/datasets').set(...bearer(apiKey)).send({ name });
    let req = t.http().post(`/v1/datasets/${created.body.id}/images`).set(...bearer(apiKey));
    for (let i = 0; i < images; i++) req = req.attach('images', await png(24, 24, { r: 40 * i, g: 200, b: 90 }, seed + i), `img${i}.png`);
    const upload = await req.field('captions', JSON.stringify(Array.from({ length: images }, (_, i) => (i % 2 ? 'red heart' : 'cat face'))));
    assert.equal(upload.body.added.length, images);
    return created.body.id;
  }

  before(async () => {
    modelsDir = mkdtempSync(join(tmpdir(), 'saas-ft-models-'));
    await writeTinyModel(modelsDir);
    await writeTinyScorer(modelsDir);
    t = await startTestApp({ modelsDir, worker: { checkpointEvery: 2, leaseMs: 30_000 } });
    key = (await createTenant(t, 'A')).apiKey;
    otherKey = (await createTenant(t, 'B')).apiKey;
    datasetId = await dataset(key, 'Mood board', 4, 10);
    smallDatasetId = await dataset(key, 'Too small', 2, 20);
    otherDatasetId = await dataset(otherKey, 'Theirs', 4, 30);
  });
  after(async () => {
    await t.close();
    rmSync(modelsDir, { recursive: true, force: true });
  });

  it('rejects bad requests with 400 naming the field', async () => {
    const cases: [unknown, RegExp][] = [
      [{ method: 'dro' }, /datasetId must be a UUID/],
      [{ datasetId }, /method must be one of: dro, sft/],
      [{ datasetId, method: 'dpo' }, /method must be one of: dro, sft/],
      [{ datasetId, method: 'dro', extra: 1 }, /property extra should not exist/],
      [{ datasetId, method: 'dro', hyperparameters: { foo: 1 } }, /property hyperparameters\.foo should not exist/],
      [{ datasetId, method: 'dro', hyperparameters: 'fast' }, /hyperparameters must be an object/],
      [{ datasetId, method: 'dro', hyperparameters: { steps: 0 } }, /hyperparameters\.steps must be a positive integer/],
      [{ datasetId, method: 'dro', hyperparameters: { steps: 2.5 } }, /hyperparameters\.steps must be an integer, got 2\.5/],
      [{ datasetId, method: 'dro', hyperparameters: { steps: 1e9 } }, /hyperparameters\.steps must not be greater than 20000/],
      [{ datasetId, method: 'dro', hyperparameters: { lr: 2 } }, /hyperparameters\.lr must be in \(0, 1\)/],
      [{ datasetId, method: 'dro', hyperparameters: { lr: '0.1' } }, /hyperparameters\.lr must be a finite number, got "0\.1"/],
      [{ datasetId, method: 'sft', hyperparameters: { captionDropout: 1 } }, /hyperparameters\.captionDropout must be in \[0, 1\)/],
      [{ datasetId, method: 'dro', hyperparameters: { seed: -3 } }, /hyperparameters\.seed must be a non-negative integer/],
      [{ datasetId, method: 'dro', webhookUrl: 'ftp://hooks.example.com/x' }, /webhookUrl must be an http or https URL/],
      [{ datasetId, method: 'dro', webhookUrl: 'javascript:alert(1)' }, /webhookUrl must be an http or https URL/],
      [{ datasetId, method: 'dro', baseModel: 'missing-model' }, /baseModel "missing-model" is not installed/],
      [{ datasetId, method: 'dro', initAdapterId: 'abc' }, /initAdapterId must be a UUID/],
      [{ datasetId: smallDatasetId, method: 'dro' }, /datasetId: the dataset has 2 usable image\(s\); a fine-tune needs at least 4/],
      [{ datasetId, method: 'dro', hyperparameters: { targets: 'convs' } }, /hyperparameters\.targets must be one of: attention, attention\+ff, blocks, decoder, all/],
      [{ datasetId, method: 'dro', hyperparameters: { mirrorAugmentation: 'yes' } }, /hyperparameters\.mirrorAugmentation must be a boolean/],
      [{ datasetId, method: 'sft', hyperparameters: { minSnrGamma: -1 } }, /hyperparameters\.minSnrGamma must not be less than 0/],
      [{ datasetId, method: 'dro', hyperparameters: { targets: 1 } }, /hyperparameters\.targets must be one of/],
      [{ datasetId, method: 'dro', stylePhrase: '' }, /stylePhrase must not be empty/],
      [{ datasetId, method: 'dro', stylePhrase: '   ' }, /stylePhrase must not be empty/],
      [{ datasetId, method: 'dro', stylePhrase: 'acme\nstyle' }, /stylePhrase must not contain control characters/],
      [{ datasetId, method: 'dro', stylePhrase: 'acme\u0007style' }, /stylePhrase must not contain control characters/],
      [{ datasetId, method: 'dro', stylePhrase: 'x'.repeat(101) }, /stylePhrase must be at most 100 characters/],
      [{ datasetId, method: 'dro', stylePhrase: 42 }, /stylePhrase must be a string/],
    ];
    for (const [body, message] of cases) {
      const res = await create(key, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status} ${JSON.stringify(res.body)}`);
      assert.match(res.body.message, message, JSON.stringify(body));
    }
    for (const raw of [`{"datasetId":"${datasetId}","method":"dro","hyperparameters":{"lr":1e999}}`, `{"datasetId":"${datasetId}","method":"dro","hyperparameters":{"margin":-1e999}}`]) {
      const res = await t.http().post('/v1/fine-tunes').set(...bearer(key)).set('Content-Type', 'application/json').send(raw);
      assert.equal(res.status, 400, raw);
      assert.match(res.body.message, /hyperparameters\.(lr|margin) must be a finite number/);
    }
    assert.equal((await t.http().get('/v1/fine-tunes?limit=0').set(...bearer(key))).status, 400);
    assert.match((await t.http().get('/v1/fine-tunes?limit=x').set(...bearer(key))).body.message, /limit must be an integer/);
  });

  it('queues a job with every hyperparameter filled in, invisible to other tenants', async () => {
    const res = await create(key, { datasetId, method: 'sft', hyperparameters: { steps: 7, rank: 4 }, webhookUrl: 'https://hooks.example.com/done' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.status, 'queued');
    assert.deepEqual(res.body.progress, { step: 0, totalSteps: 7 });
    assert.deepEqual(res.body.hyperparameters, { ...DEFAULT_FINE_TUNE_HYPERPARAMETERS, steps: 7, rank: 4 });
    assert.deepEqual([res.body.method, res.body.baseModel, res.body.datasetId, res.body.adapterId, res.body.webhookUrl], ['sft', 'emoji-base', datasetId, null, 'https://hooks.example.com/done']);
    const id = res.body.id;

    assert.equal(res.body.stylePhrase, 'mood board style', 'the default phrase comes from the dataset name');
    assert.equal(res.body.preview, null);
    assert.deepEqual(await get(id), res.body);
    assert.ok((await t.http().get('/v1/fine-tunes').set(...bearer(key))).body.data.some((j: { id: string }) => j.id === id));
    const notYet = await t.http().get(`/v1/fine-tunes/${id}/preview`).set(...bearer(key));
    assert.equal(notYet.status, 404);
    assert.match(notYet.body.message, /has no preview yet: it is queued/);
    for (const [method, path] of [['get', `/v1/fine-tunes/${id}`], ['get', `/v1/fine-tunes/${id}/events`], ['get', `/v1/fine-tunes/${id}/preview`], ['post', `/v1/fine-tunes/${id}/cancel`], ['get', `/v1/fine-tunes/${randomUUID()}`]] as const) {
      const other = await t.http()[method](path).set(...bearer(otherKey));
      assert.equal(other.status, 404, `${method} ${path}`);
      assert.equal(other.body.statusCode, 404);
    }
    assert.deepEqual((await t.http().get('/v1/fine-tunes').set(...bearer(otherKey))).body.data, []);
    const foreignDataset = await create(key, { datasetId: otherDatasetId, method: 'dro' });
    assert.equal(foreignDataset.status, 404);
    assert.match(foreignDataset.body.message, /datasetId .* does not name one of your datasets/);
    const theirAdapter = await t.http().post('/v1/adapters').set(...bearer(otherKey)).field('name', 'theirs').attach('file', tinyLora(3).file, 'x.safetensors');
    const foreignAdapter = await create(key, { datasetId, method: 'dro', initAdapterId: theirAdapter.body.id });
    assert.equal(foreignAdapter.status, 404);
    assert.match(foreignAdapter.body.message, /initAdapterId .* does not name one of your adapters/);
    // Imports name a base model the service serves: a second one, installed here.
    await writeTinyModel(modelsDir, 7, 'stable-diffusion-v1-5');
    const otherModel = await t.http().post('/v1/adapters').set(...bearer(key)).field('name', 'sd15').field('baseModel', 'stable-diffusion-v1-5').attach('file', tinyLora(5).file, 'y.safetensors');
    const mismatch = await create(key, { datasetId, method: 'dro', initAdapterId: otherModel.body.id });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.body.message, /^initAdapterId: adapter .* was made for base model stable-diffusion-v1-5, not emoji-base/);
    // The dataset of a waiting job cannot be deleted from under it.
    assert.equal((await t.http().delete(`/v1/datasets/${datasetId}`).set(...bearer(key))).status, 409);
    await t.http().post(`/v1/fine-tunes/${id}/cancel`).set(...bearer(key));
  });

  it('takes a style phrase, normalised, and a targets hyperparameter it hands to the trainer as given', async () => {
    const res = await create(key, { datasetId, method: 'dro', stylePhrase: '  Acme   Style ', hyperparameters: { targets: 'attention+ff' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.stylePhrase, 'acme style');
    assert.equal(res.body.hyperparameters.targets, 'attention+ff');
    assert.deepEqual(await get(res.body.id), res.body);
    const plain = await create(key, { datasetId, method: 'dro' });
    assert.equal(plain.body.hyperparameters.targets, (DEFAULT_FINE_TUNE_HYPERPARAMETERS as { targets?: string }).targets, 'no default chosen by the API: the trainer’s applies');
    for (const job of [res.body, plain.body]) await t.http().post(`/v1/fine-tunes/${job.id}/cancel`).set(...bearer(key));
  });

  it('cancels a queued job at once; its event stream reports the end and closes', async () => {
    const { body: job } = await create(key, { datasetId, method: 'dro' });
    const canceled = await t.http().post(`/v1/fine-tunes/${job.id}/cancel`).set(...bearer(key));
    assert.equal(canceled.status, 200);
    assert.equal(canceled.body.status, 'canceled');
    assert.ok(canceled.body.finishedAt);
    const again = await t.http().post(`/v1/fine-tunes/${job.id}/cancel`).set(...bearer(key));
    assert.equal(again.status, 409);
    assert.match(again.body.message, /already canceled/);

    const stream = await readSse(`${t.baseUrl}/v1/fine-tunes/${job.id}/events`, key, { timeoutMs: 5000 });
    assert.equal(stream.status, 200);
    assert.match(stream.contentType!, /^text\/event-stream/);
    assert.deepEqual(stream.events.map((e) => e.event), ['status', 'progress', 'done']);
    assert.equal(stream.events[0].data.status, 'canceled');
    assert.equal(stream.events[2].data.status, 'canceled');
    const missing = await readSse(`${t.baseUrl}/v1/fine-tunes/${randomUUID()}/events`, key);
    assert.deepEqual([missing.status, missing.body.statusCode], [404, 404]);
  });

  describe('with a worker', () => {
    let adapterId: string;
    let jobId: string;

    it('trains a DRO job: progress streams to a client that connects mid-run, then one adapter is registered', async () => {
      // The second progress write waits until the stream is open: the job cannot finish before the client connects.
      let connected!: () => void;
      const clientConnected = new Promise<void>((resolve) => (connected = resolve));
      const worker = await startInProcessWorker(t.config, {}, { beforeProgressWrite: (n) => (n === 2 ? clientConnected : undefined) });
      try {
        const { body: job } = await create(key, { datasetId, method: 'dro', hyperparameters: { ...TINY, steps: 24 } });
        jobId = job.id;
        worker.worker.start();
        await waitFor(async () => ((await get(job.id)).progress.step >= 1 ? true : undefined), 'the first step');
        const stream = await readSse(`${t.baseUrl}/v1/fine-tunes/${job.id}/events`, key, { timeoutMs: 30_000, onEvent: () => connected() });
        const names = stream.events.map((e) => e.event);
        assert.deepEqual([names[0], names.at(-1)], ['status', 'done'], names.join(','));
        assert.equal(stream.events[0].data.status, 'running', 'connected mid-run');
        const progress = stream.events.filter((e) => e.event === 'progress').map((e) => e.data);
        assert.ok(progress.length >= 2, `${progress.length} progress events`);
        assert.ok(progress[0].step >= 1 && progress[0].step < 24, 'first progress is the current step');
        assert.equal(progress.at(-1).step, 24);
        for (let i = 1; i < progress.length; i++) assert.ok(progress[i].step > progress[i - 1].step);
        for (const field of ['loss', 'expertDiff', 'policyDiff', 'activeFraction', 'gradNorm', 'stepsPerSecond']) assert.equal(typeof progress.at(-1)[field], 'number', field);
        assert.ok(names.includes('status') && stream.events.some((e) => e.event === 'status' && e.data.status === 'succeeded'));
        const done = stream.events.at(-1)!.data;
        assert.equal(done.status, 'succeeded');
        adapterId = done.adapterId;
      } finally {
        await worker.close();
      }
      const job = await get(jobId);
      assert.deepEqual([job.status, job.progress.step, job.error, job.attempts], ['succeeded', 24, null, 1]);
      assert.equal(typeof job.metrics.finalLoss, 'number');
      assert.ok(job.startedAt && job.finishedAt);
      const adapter = (await t.http().get(`/v1/adapters/${adapterId}`).set(...bearer(key))).body;
      assert.deepEqual([adapter.source, adapter.fineTuneId, adapter.baseModel, adapter.rank, adapter.format], ['fine-tune', jobId, 'emoji-base', 8, 'peft']);
      assert.match(adapter.name, /^Mood board \(dro /);
      assert.equal(adapter.metadata.fine_tune_id, jobId);
      assert.deepEqual([adapter.stylePhrase, adapter.recommendedScale], ['mood board style', DEFAULT_RECOMMENDED_SCALE]);
      assert.deepEqual([adapter.metadata.style_phrase, adapter.metadata.recommended_scale], ['mood board style', String(DEFAULT_RECOMMENDED_SCALE)]);

      // The validation preview: prompts the dataset does not use, with the phrase, without | with the adapter.
      assert.equal(job.stylePhrase, 'mood board style');
      const { preview } = job;
      assert.deepEqual([preview.status, preview.url, preview.error, preview.fidelity], ['available', `/v1/fine-tunes/${jobId}/preview`, null, null]);
      assert.deepEqual(preview.prompts, ['sun, mood board style', 'smiling face, mood board style', 'pizza, mood board style', 'tree, mood board style']);
      assert.deepEqual([preview.seeds, preview.scale, preview.steps, preview.guidanceScale], [[1, 2], DEFAULT_RECOMMENDED_SCALE, 20, 4]);
      for (const side of ['base', 'adapter']) assert.ok(preview.conceptTop5[side] >= 0 && preview.conceptTop5[side] <= 1, `conceptTop5.${side}: ${preview.conceptTop5[side]}`);
      const png = await t.http().get(preview.url).set(...bearer(key)).buffer(true).parse(binaryParser);
      assert.equal(png.status, 200);
      assert.equal(png.headers['content-type'], 'image/png');
      // 4 prompt rows; 2 seeds without, a gap, 2 seeds with; 16 px tiles with 1 px padding, enlarged 6×.
      const meta = await sharp(png.body as Buffer).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', (5 * 16 + 6) * 6, (4 * 16 + 5) * 6]);
      const theirs = await t.http().get(preview.url).set(...bearer(otherKey));
      assert.deepEqual([theirs.status, theirs.body.statusCode], [404, 404]);

      // After the end, a new stream replays the final state and closes.
      const replay = await readSse(`${t.baseUrl}/v1/fine-tunes/${jobId}/events`, key, { timeoutMs: 5000 });
      assert.deepEqual(replay.events.map((e) => e.event), ['status', 'progress', 'done']);
      assert.equal(replay.events[1].data.step, 24);
      // The adapter generates.
      const generated = await t.http().post('/v1/generations').set(...bearer(key)).send({ prompt: 'red heart', steps: 2, adapters: [{ id: adapterId }] });
      assert.equal(generated.status, 201, JSON.stringify(generated.body));
    });

    it('registers exactly one adapter when a job runs again after a crash before it was marked done', async () => {
      const dataSource = t.app.get(DataSource);
      const adapterBefore = (await t.http().get(`/v1/adapters/${adapterId}`).set(...bearer(key))).body;
      // As if the worker died after writing the adapter but before recording success.
      await sql(dataSource, `UPDATE fine_tunes SET status = 'queued', adapter_id = NULL, finished_at = NULL WHERE id = ?`, [jobId]);
      const worker = await startInProcessWorker(t.config);
      try {
        assert.deepEqual(await worker.worker.runOnce(), { jobId, outcome: 'succeeded' });
      } finally {
        await worker.close();
      }
      assert.deepEqual(worker.recordedSteps, [], 'resumed from the final checkpoint: nothing left to train');
      const job = await get(jobId);
      assert.deepEqual([job.status, job.adapterId, job.attempts], ['succeeded', adapterId, 2]);
      const rows = await sql(dataSource, `SELECT id, sha256 FROM adapters WHERE fine_tune_id = ?`, [jobId]);
      assert.deepEqual(rows, [{ id: adapterId, sha256: adapterBefore.sha256 }]);
    });

    it('cancels a running job at its next step: no adapter', async () => {
      const worker = await startInProcessWorker(t.config);
      try {
        const { body: job } = await create(key, { datasetId, method: 'sft', hyperparameters: { steps: 5000, batchSize: 1 } });
        worker.worker.start();
        await waitFor(async () => ((await get(job.id)).progress.step >= 1 ? true : undefined), 'the first step');
        const cancel = await t.http().post(`/v1/fine-tunes/${job.id}/cancel`).set(...bearer(key));
        assert.equal(cancel.status, 200);
        assert.deepEqual([cancel.body.status, cancel.body.cancelRequested], ['running', true]);
        const ended = await waitFor(async () => {
          const current = await get(job.id);
          return current.status === 'running' ? undefined : current;
        }, 'the worker to stop');
        assert.equal(ended.status, 'canceled');
        assert.equal(ended.adapterId, null);
        assert.ok(ended.progress.step < 5000);
        const adapters = await sql(t.app.get(DataSource), `SELECT id FROM adapters WHERE fine_tune_id = ?`, [job.id]);
        assert.deepEqual(adapters, []);
        const tenantId = (await sql(t.app.get(DataSource), 'SELECT tenant_id FROM fine_tunes WHERE id = ?', [job.id]))[0].tenant_id;
        assert.deepEqual(await worker.context.get(StoragePort).list(fineTuneCheckpointPrefix(tenantId, job.id)), [], 'checkpoints of a canceled job are removed');
      } finally {
        await worker.close();
      }
    });

    it('hands a job back when its worker stops; the next worker resumes from the checkpoint', async () => {
      const first = await startInProcessWorker(t.config, {}, { workerId: 'worker-one' });
      const { body: job } = await create(key, { datasetId, method: 'dro', hyperparameters: { ...TINY, steps: 400 } });
      first.worker.start();
      await waitFor(async () => ((await get(job.id)).progress.step >= 3 ? true : undefined), 'a few steps');
      await first.close();
      const paused = await get(job.id);
      assert.equal(paused.status, 'queued', 'back in the queue');
      // The checkpoint is in storage (here the local driver's folder), where any worker finds it.
      const tenantId = (await sql(t.app.get(DataSource), 'SELECT tenant_id FROM fine_tunes WHERE id = ?', [job.id]))[0].tenant_id;
      const checkpointDir = join(t.dataDir, 'objects', ...fineTuneCheckpointPrefix(tenantId, job.id).split('/'));
      const manifest = JSON.parse(readFileSync(join(checkpointDir, 'checkpoint.json'), 'utf8'));
      assert.ok(manifest.step >= 3);
      // What a worker killed mid-write leaves: storage temporaries, a state file its manifest never named, a half-put adapter.
      const adapterDir = join(t.dataDir, 'objects', 'tenants', tenantId, 'adapters');
      mkdirSync(adapterDir, { recursive: true });
      const leftovers = [join(checkpointDir, 'checkpoint.json.0badc0de4242.tmp'), join(checkpointDir, `state-${manifest.step + 1}.safetensors`), join(adapterDir, `ft-${job.id}.safetensors.0123456789ab.tmp`)];
      for (const file of leftovers) writeFileSync(file, 'partial');

      // The next worker continues right after the checkpointed step, then is canceled to keep the test short.
      const second = await startInProcessWorker(t.config, {}, { workerId: 'worker-two' });
      try {
        second.worker.start();
        await waitFor(async () => (second.recordedSteps.length > 0 ? true : undefined), 'the resumed run');
        assert.equal(second.recordedSteps[0], manifest.step + 1);
        assert.deepEqual(leftovers.filter((file) => existsSync(file)), [], 'the partial writes are gone');
        assert.ok(existsSync(join(checkpointDir, manifest.file)), 'the complete checkpoint stays');
        const running = await get(job.id);
        assert.deepEqual([running.status, running.attempts], ['running', 2]);
        await t.http().post(`/v1/fine-tunes/${job.id}/cancel`).set(...bearer(key));
        await waitFor(async () => ((await get(job.id)).status === 'canceled' ? true : undefined), 'cancel');
      } finally {
        await second.close();
      }
    });

    it('still succeeds and registers the adapter when the preview cannot be made', async () => {
      const worker = await startInProcessWorker(t.config);
      const storage = worker.context.get(StoragePort);
      const put = storage.put.bind(storage);
      storage.put = async (storageKey, data) => {
        if (storageKey.endsWith('/preview.png')) throw new Error('disk full');
        return put(storageKey, data);
      };
      try {
        const { body: job } = await create(key, { datasetId, method: 'sft', stylePhrase: 'acme style', hyperparameters: { steps: 2, batchSize: 1 } });
        assert.deepEqual(await worker.worker.runOnce(), { jobId: job.id, outcome: 'succeeded' });
        const done = await get(job.id);
        assert.deepEqual([done.preview.status, done.preview.url, done.preview.error], ['unavailable', null, 'disk full']);
        const adapter = (await t.http().get(`/v1/adapters/${done.adapterId}`).set(...bearer(key))).body;
        assert.deepEqual([adapter.fineTuneId, adapter.stylePhrase, adapter.recommendedScale], [job.id, 'acme style', DEFAULT_RECOMMENDED_SCALE]);
        const missing = await t.http().get(`/v1/fine-tunes/${job.id}/preview`).set(...bearer(key));
        assert.equal(missing.status, 404);
        assert.match(missing.body.message, /has no preview$/);
      } finally {
        await worker.close();
      }
    });

    it('continues an adapter in the next round', async () => {
      const worker = await startInProcessWorker(t.config);
      try {
        const { body: job, status } = await create(key, { datasetId, method: 'dro', initAdapterId: adapterId, hyperparameters: { ...TINY, steps: 3, rank: 2 } });
        assert.equal(status, 201, JSON.stringify(job));
        assert.equal(job.initAdapterId, adapterId);
        assert.equal(job.hyperparameters.rank, 8, 'the adapter keeps its rank');
        assert.deepEqual(await worker.worker.runOnce(), { jobId: job.id, outcome: 'succeeded' });
        const next = await get(job.id);
        const adapter = (await t.http().get(`/v1/adapters/${next.adapterId}`).set(...bearer(key))).body;
        assert.notEqual(next.adapterId, adapterId);
        assert.equal(adapter.rank, 8);
      } finally {
        await worker.close();
      }
    });
  });
});
