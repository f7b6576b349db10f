import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fsp from 'fs/promises';
import * as os from 'os';
import * as path from 'path';
import { createRandomModel } from '../../src/engine/models/random-model';
import { DiffusionModel, loadDiffusionModel, saveDiffusionModel, sampleShape, tokenizeCaptions } from '../../src/engine/models/diffusion-model';
import { CaptionedImages, readTrainingLog, totalTrainingSteps } from '../../src/lab/pretraining/pretrain.trainer';
import { TrainingPackMeta, writeTrainingPack } from '../../src/lab/pretraining/training-pack';
import { EMOJI_BASE_TRAINING } from '../../src/lab/pretraining/emoji-base.recipe';
import { NoiseSchedule, Random } from '../../src/engine/schedulers';
import { TfjsTextEncoder, TfjsUNetDenoiser } from '../../src/engine/pipeline/tfjs-executors';
import { OrtTextEncoder, OrtUNetDenoiser } from '../../src/engine/pipeline/onnx-executors';
import { describeWithEnv } from '../support/required-env';

const CAPTIONS = ['red heart', 'sun', 'cat face', 'pizza', 'tree'];

function data(): CaptionedImages {
  const size = 16;
  return {
    count: CAPTIONS.length,
    imageSize: size,
    // Exactly representable as bytes, so the round trip through images.u8 is exact.
    images: new Random(3).randn(CAPTIONS.length * 3 * size * size).map((v) => Math.round((Math.tanh(v) + 1) * 127.5) / 127.5 - 1),
    caption: (i, r) => (r.uniform() < 0.5 ? CAPTIONS[i] : `${CAPTIONS[i]} noto style`),
  };
}

async function packFixture(): Promise<{ dir: string; modelDir: string; packDir: string; model: DiffusionModel; meta: TrainingPackMeta }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'pack-'));
  const modelDir = path.join(dir, 'model');
  const packDir = path.join(dir, 'pack');
  const model = createRandomModel({ seed: 5 });
  await saveDiffusionModel(modelDir, model, { dtype: 'F32', extraFiles: { 'training_log.json': JSON.stringify({ steps: 7, batchSize: 2, samplesSeen: 14, trainHours: 0, samplesPerSecond: 1, lr: 1e-3, scheduleSteps: 7, host: { cpus: 1, cpuModel: 'test' } }) } });
  const meta = await writeTrainingPack({ dir: packDir, model, modelDir, data: data(), captionVariants: 16, recipe: { ...EMOJI_BASE_TRAINING }, trainingDataJson: '{"trainImages":5}', seed: 1 });
  return { dir, modelDir, packDir, model, meta };
}

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

test('a training pack holds the images, caption draws and schedule, and reference outputs that tfjs reproduces', async () => {
  const { packDir, model, meta } = await packFixture();
  const d = data();
  const bytes = await fsp.readFile(path.join(packDir, meta.images));
  assert.equal(bytes.length, d.images.length);
  for (let i = 0; i < bytes.length; i++) assert.ok(Math.abs(bytes[i] / 127.5 - 1 - d.images[i]) < 1e-6);

  // Every draw of image i is one of the two captions the data set can produce for it, and both occur.
  const ids = new Int16Array(new Uint8Array(await fsp.readFile(path.join(packDir, meta.captionIds))).buffer);
  const mask = await fsp.readFile(path.join(packDir, meta.captionMask));
  const l = meta.maxLength;
  for (let i = 0; i < CAPTIONS.length; i++) {
    const options = [CAPTIONS[i], `${CAPTIONS[i]} noto style`].map((c) => tokenizeCaptions(model, [c]));
    const seen = new Set<number>();
    for (let k = 0; k < meta.captionVariants; k++) {
      const at = (i * meta.captionVariants + k) * l;
      const which = options.findIndex((o) => o.inputIds.every((v, j) => Number(v) === ids[at + j]) && o.attentionMask.every((v, j) => v === mask[at + j]));
      assert.ok(which >= 0, `image ${i} draw ${k} is not one of its captions`);
      seen.add(which);
    }
    assert.equal(seen.size, 2, `image ${i}: both captions should be drawn`);
  }
  const empty = tokenizeCaptions(model, ['']);
  assert.deepEqual(meta.emptyCaption.ids, Array.from(empty.inputIds, Number));
  assert.deepEqual(meta.alphasCumprod, Array.from(new NoiseSchedule(model.schedulerConfig).alphasCumprod));
  assert.deepEqual(meta.recipe, { ...EMOJI_BASE_TRAINING });

  // The reference comes from the ONNX Runtime graphs; tfjs executes the same definitions independently.
  const ref = meta.reference;
  const b = ref.ids.length;
  const text = await TfjsTextEncoder.create(model);
  const unet = await TfjsUNetDenoiser.create(model);
  const hidden = await text.encode(BigInt64Array.from(ref.ids.flat(), BigInt), Float32Array.from(ref.mask.flat()), b);
  assert.ok(maxRelErr(hidden, ref.textHidden) < 1e-4);
  const out = await unet.predict({ batch: b, sample: Float32Array.from(ref.noisy), timesteps: Float32Array.from(ref.timesteps), encoderHiddenStates: Float32Array.from(ref.textHidden), encoderMask: Float32Array.from(ref.mask.flat()), lora: null });
  assert.ok(maxRelErr(out, ref.unetOut) < 1e-4);
  await text.release();
  await unet.release();
});

/** One UNet evaluation of a model folder through the engine (ONNX Runtime) on fixed inputs. */
async function engineOutput(model: DiffusionModel): Promise<Float32Array> {
  const [c, h, w] = sampleShape(model);
  const { inputIds, attentionMask } = tokenizeCaptions(model, ['red heart noto style', 'sun']);
  const text = await OrtTextEncoder.create(model, { intraOpThreads: 1 });
  const unet = await OrtUNetDenoiser.create(model, [], { intraOpThreads: 1 });
  try {
    const hidden = await text.encode(inputIds, attentionMask, 2);
    return await unet.predict({ batch: 2, sample: new Random(9).randn(2 * c * h * w), timesteps: Float32Array.from([100, 800]), encoderHiddenStates: hidden, encoderMask: attentionMask, lora: null });
  } finally {
    await text.release();
    await unet.release();
  }
}

describeWithEnv('scripts/cuda-pretrain.py (PyTorch on CPU)', ['TEST_PYTHON'], 'a Python with PyTorch and NumPy (Debian: python3-torch)', () => {
  const script = path.resolve('scripts', 'cuda-pretrain.py');
  const python = (args: string[]) => execFileSync(process.env.TEST_PYTHON!, [script, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });

  test('its PyTorch text encoder and UNet compute what the engine computes', async () => {
    const { packDir } = await packFixture();
    const report = JSON.parse(python(['verify', '--pack', packDir, '--device', 'cpu']).trim().split('\n').pop()!);
    assert.equal(report.ok, true);
    assert.ok(report.textRelErr < 1e-5 && report.unetRelErr < 1e-5, JSON.stringify(report));
  });

  test('it trains a model folder that the engine loads, appending its phase to training_log.json', async () => {
    const { dir, packDir, modelDir, model } = await packFixture();
    const out = path.join(dir, 'continued');
    python(['train', '--pack', packDir, '--init', modelDir, '--out', out, '--device', 'cpu', '--steps', '3', '--batch', '4', '--lr', '1e-2', '--warmup', '1']);
    const trained = await loadDiffusionModel(out);
    assert.deepEqual(trained.unetConfig, model.unetConfig);
    const before = await engineOutput(model);
    const after = await engineOutput(trained);
    assert.ok(after.every(Number.isFinite));
    assert.ok(maxRelErr(after, before) > 1e-3, 'three steps at lr 1e-2 should change the outputs');
    const log = await readTrainingLog(out);
    assert.equal(log?.steps, 7);
    assert.equal(log?.phases?.length, 1);
    assert.equal(log!.phases![0].fromStep, 7);
    assert.equal(log!.phases![0].samplesSeen, 12);
    assert.equal(totalTrainingSteps(log!), 10);
    assert.match(log!.phases![0].command, /--steps 3 .*--init /);

    // A fresh model with other widths: the engine builds it from the written config.
    const fresh = path.join(dir, 'fresh');
    python(['train', '--pack', packDir, '--out', fresh, '--device', 'cpu', '--steps', '2', '--batch', '4', '--block-out-channels', '24,32']);
    const wide = await loadDiffusionModel(fresh);
    assert.deepEqual(wide.unetConfig.block_out_channels, [24, 32]);
    assert.ok((await engineOutput(wide)).every(Number.isFinite));
  });
});
