import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fsp from 'fs/promises';
import * as os from 'os';
import * as path from 'path';
import { createRandomModel } from '../../src/engine/models/random-model';
import { CaptionedImages, learningRateAt, pretrain, PretrainOptions, readTrainingLog } from '../../src/lab/pretraining/pretrain.trainer';
import { writeEmojiBaseModelCard } from '../../src/lab/pretraining/emoji-base.model-card';
import { loadDiffusionModel } from '../../src/engine/models/diffusion-model';
import { Random } from '../../src/engine/schedulers';

function data(): CaptionedImages {
  const size = 16;
  const rng = new Random(4);
  const captions = ['red heart', 'sun', 'cat face', 'pizza', 'tree', 'rocket'];
  return { count: 6, imageSize: size, images: rng.randn(6 * 3 * size * size).map(Math.tanh), caption: (i, r) => (r.uniform() < 0.5 ? captions[i] : `${captions[i]} noto style`) };
}

async function run(dir: string, over: Partial<PretrainOptions>) {
  const model = createRandomModel({ seed: 2 });
  return pretrain({
    model,
    data: data(),
    outDir: path.join(dir, 'model'),
    checkpointDir: path.join(dir, 'ck'),
    steps: 4,
    batchSize: 3,
    lr: 1e-3,
    warmupSteps: 2,
    minLrRatio: 0.1,
    weightDecay: 0.01,
    gradClip: 1,
    emaDecay: 0.9,
    minSnrGamma: 5,
    captionDropout: 0.2,
    seed: 7,
    checkpointEverySteps: 100,
    resume: false,
    intraOpThreads: 1,
    ...over,
  });
}

test('learning-rate schedule: linear warm-up then cosine to the floor', () => {
  const o = { lr: 1, warmupSteps: 10, minLrRatio: 0.1, steps: 110 };
  assert.ok(Math.abs(learningRateAt(0, o) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRateAt(9, o) - 1) < 1e-12);
  assert.ok(Math.abs(learningRateAt(60, o) - 0.55) < 1e-12);
  assert.ok(Math.abs(learningRateAt(110, o) - 0.1) < 1e-12);
});

test('pretraining resumes from its checkpoint exactly and exports a loadable model folder', async () => {
  const a = await fsp.mkdtemp(path.join(os.tmpdir(), 'pt-a-'));
  const b = await fsp.mkdtemp(path.join(os.tmpdir(), 'pt-b-'));
  const straight = await run(a, {});
  assert.equal(straight.steps, 4);
  assert.ok(Number.isFinite(straight.finalLoss));

  const ac = new AbortController();
  const first = await run(b, { signal: ac.signal, onProgress: (p) => p.step === 2 && ac.abort() });
  assert.equal(first.steps, 2, 'stopped after the abort');
  const resumed = await run(b, { resume: true });
  assert.equal(resumed.steps, 4);
  assert.equal(resumed.samplesSeen, 12);

  const ma = await loadDiffusionModel(path.join(a, 'model'));
  const mb = await loadDiffusionModel(path.join(b, 'model'));
  for (const [k, v] of ma.unetParams) assert.deepEqual(mb.unetParams.get(k)!.data, v.data, k);
  for (const [k, v] of ma.textParams) assert.deepEqual(mb.textParams.get(k)!.data, v.data, k);
  const log = JSON.parse(await fsp.readFile(path.join(b, 'model', 'training_log.json'), 'utf8'));
  assert.equal(log.steps, 4);
  await fsp.rm(a, { recursive: true, force: true });
  await fsp.rm(b, { recursive: true, force: true });
});

test('a resumed run with a new schedule length records the change in the training log and the model card', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'pt-sched-'));
  const ac = new AbortController();
  await run(dir, { steps: 8, signal: ac.signal, onProgress: (p) => p.step === 2 && ac.abort() });
  await run(dir, { steps: 4, resume: true, scheduleChanges: [{ atStep: 2, fromSteps: 8, toSteps: 4 }] });
  const log = await readTrainingLog(path.join(dir, 'model'));
  assert.equal(log?.steps, 4);
  assert.equal(log?.scheduleSteps, 4);
  assert.deepEqual(log?.scheduleChanges, [{ atStep: 2, fromSteps: 8, toSteps: 4 }]);
  const card = await writeEmojiBaseModelCard(path.join(dir, 'model'));
  assert.match(card, /4 of 4 scheduled steps × batch 3 = 12 samples seen/);
  assert.match(card, /The schedule was set to 4 steps at step 2 \(it had been 8\)/);
  assert.match(card, /npm run pretrain -- --steps 4 --batch 3 --lr 0\.001 --resume/);
  await fsp.rm(dir, { recursive: true, force: true });
});

test('focus sampling: resumed mid-epoch it draws the same batches, and the log and card record it', async () => {
  const a = await fsp.mkdtemp(path.join(os.tmpdir(), 'pt-focus-a-'));
  const b = await fsp.mkdtemp(path.join(os.tmpdir(), 'pt-focus-b-'));
  // Batch 4 over 6 images: the abort at step 2 falls mid-epoch, and losses are re-measured at steps 0 and 2.
  const focus = { share: 0.5, power: 2, refreshEverySteps: 2, timesteps: [600, 950] };
  const over = { focus, batchSize: 4, scheduleChanges: [{ atStep: 0, fromSteps: 4, toSteps: 4, fromLr: 5e-4, toLr: 1e-3 }] };
  const straight = await run(a, over);
  const ac = new AbortController();
  await run(b, { ...over, signal: ac.signal, onProgress: (p) => p.step === 2 && ac.abort() });
  const resumed = await run(b, { ...over, resume: true });
  assert.equal(resumed.finalLoss, straight.finalLoss);
  const ma = await loadDiffusionModel(path.join(a, 'model'));
  const mb = await loadDiffusionModel(path.join(b, 'model'));
  for (const [k, v] of ma.unetParams) assert.deepEqual(mb.unetParams.get(k)!.data, v.data, k);

  const log = await readTrainingLog(path.join(b, 'model'));
  assert.deepEqual(log?.focus, { ...focus, fromStep: 0 });
  const card = await writeEmojiBaseModelCard(path.join(b, 'model'));
  assert.match(card, /--lr 0\.001 --focus-share 0\.5 --focus-power 2 --focus-refresh 2 --resume/);
  assert.match(card, /peak lr of 0\.001 at step 0 \(it had been 4 steps, lr 0\.0005\)/);
  assert.match(card, /From step 0 on, 50 % of every batch was drawn with probability ∝ \(x̂0 error\)\^2/);
  await fsp.rm(a, { recursive: true, force: true });
  await fsp.rm(b, { recursive: true, force: true });
});
