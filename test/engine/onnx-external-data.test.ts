import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { encodeModel, initializerBytes, OnnxModel } from '../../src/engine/onnx/onnx-model';
import { writeOnnxModel } from '../../src/engine/onnx/onnx-external-data';
import { createSession, run } from '../../src/engine/onnx/ort-session';
import { loadDiffusionModel } from '../../src/engine';
import { OrtTextEncoder, OrtUNetDenoiser } from '../../src/engine/pipeline/onnx-executors';
import { OrtAutoencoderKl } from '../../src/engine/pipeline/vae-executors';
import { parseAutoencoderKlConfig } from '../../src/engine/models/autoencoder-kl.model';
import { attentionProjectionModules } from '../../src/engine/models/unet-2d-condition.model';
import { DenoiserTrainingGraph } from '../../src/engine/training/denoiser-training-graph';
import { readSafetensorsFile } from '../../src/engine/io/safetensors';
import { Random } from '../../src/engine/schedulers';
import { parseFields } from '../support/protobuf-fields';
import { relErr } from '../support/numerics';

const FIXTURE = path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'tiny-sd');
const REFS = path.join(FIXTURE, 'references');

function matmulModel(w: Float32Array, bias: Float32Array): OnnxModel {
  return {
    graph: {
      name: 'g',
      nodes: [
        { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['xw'] },
        { opType: 'Add', inputs: ['xw', 'bias'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', dataType: 'float32', shape: ['batch', 64] }],
      outputs: [{ name: 'y', dataType: 'float32', shape: ['batch', 64] }],
      // The weight (16 KiB) goes outside; the bias (256 B) stays below the 1 KiB threshold.
      initializers: [
        { name: 'w', dataType: 'float32', dims: [64, 64], data: () => w },
        { name: 'bias', dataType: 'float32', dims: [64], data: bias },
      ],
    },
  };
}

test('external data: TensorProto location/offset/length entries, page-aligned bytes in the data file, same outputs as raw_data', async () => {
  const rng = new Random(5);
  const w = rng.randn(64 * 64);
  const bias = rng.randn(64);
  const model = matmulModel(w, bias);
  assert.equal(initializerBytes(model), 64 * 64 * 4 + 64 * 4);
  const dir = mkdtempSync(path.join(tmpdir(), 'ext-data-test-'));
  try {
    const written = writeOnnxModel(model, path.join(dir, 'm.onnx'));
    assert.deepEqual([written.externalTensors, written.externalBytes, path.basename(written.dataPath!)], [1, 64 * 64 * 4, 'm.onnx.data']);
    // Decode the written protobuf independently: ModelProto.graph (7) → initializer (5) fields.
    const graph = parseFields(readFileSync(written.modelPath)).find((f) => f.field === 7)!.value as Uint8Array;
    const inits = parseFields(graph).filter((f) => f.field === 5).map((f) => parseFields(f.value as Uint8Array));
    const byName = new Map(inits.map((fs) => [Buffer.from(fs.find((f) => f.field === 8)!.value as Uint8Array).toString(), fs]));
    const wFields = byName.get('w')!;
    assert.equal(wFields.find((f) => f.field === 9), undefined, 'no raw_data for the external tensor');
    assert.equal(wFields.find((f) => f.field === 14)!.value, 1n, 'data_location = EXTERNAL');
    const entries = Object.fromEntries(
      wFields.filter((f) => f.field === 13).map((f) => {
        const kv = parseFields(f.value as Uint8Array);
        return [Buffer.from(kv[0].value as Uint8Array).toString(), Buffer.from(kv[1].value as Uint8Array).toString()];
      }),
    );
    assert.equal(entries.location, 'm.onnx.data');
    assert.equal(Number(entries.offset) % 4096, 0);
    assert.equal(Number(entries.length), w.byteLength);
    const data = readFileSync(written.dataPath!);
    assert.ok(Buffer.from(w.buffer).equals(data.subarray(Number(entries.offset), Number(entries.offset) + Number(entries.length))));
    assert.ok((byName.get('bias')!.find((f) => f.field === 9)!.value as Uint8Array).length === 256, 'the small bias stays in raw_data');

    const x = rng.randn(3 * 64);
    const feeds = { x: { data: x, dims: [3, 64] } };
    const fromFile = await createSession(model, { executionProvider: 'cpu', intraOpThreads: 1, externalData: 'always' });
    const inProto = await createSession(encodeModel(model), { executionProvider: 'cpu', intraOpThreads: 1 });
    const a = (await run(fromFile.session, feeds)).y.data as Float32Array;
    const b = (await run(inProto.session, feeds)).y.data as Float32Array;
    assert.deepEqual(Array.from(a), Array.from(b));
    // An independent product, so both are right and not merely equal.
    const want = new Float32Array(3 * 64);
    for (let r = 0; r < 3; r++) for (let c = 0; c < 64; c++) {
      let s = bias[c];
      for (let k = 0; k < 64; k++) s += x[r * 64 + k] * w[k * 64 + c];
      want[r * 64 + c] = s;
    }
    assert.ok(relErr(a, want) < 1e-6);
    await Promise.all([fromFile.session.release(), inProto.session.release()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs `fn` with every executor's sessions forced into (or out of) external data. */
async function withExternalData<V>(choice: 'always' | 'never', fn: () => Promise<V>): Promise<V> {
  const before = process.env.ORT_EXTERNAL_DATA;
  process.env.ORT_EXTERNAL_DATA = choice;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.ORT_EXTERNAL_DATA;
    else process.env.ORT_EXTERNAL_DATA = before;
  }
}

test('external data is transparent for the executors: tiny-sd UNet (with LoRA inputs), text encoder, VAE and a LoRA training step give the same numbers', async () => {
  const model = await loadDiffusionModel(FIXTURE);
  const unetRef = (await readSafetensorsFile(path.join(REFS, 'unet.safetensors'))).tensors;
  const vaeRef = (await readSafetensorsFile(path.join(REFS, 'vae.safetensors'))).tensors;
  const vaeCfg = parseAutoencoderKlConfig(JSON.parse(readFileSync(path.join(FIXTURE, 'vae', 'config.json'), 'utf8')));
  const vaeParams = new Map([...(await readSafetensorsFile(path.join(FIXTURE, 'vae', 'diffusion_pytorch_model.safetensors'))).tensors].map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
  const modules = attentionProjectionModules(model.unetConfig);
  const rng = new Random(11);
  const rank = 2;
  // Zero LoRA factors: the UNet must reproduce diffusers' output through the LoRA-input graph as well.
  const zeroLora = new Map(modules.flatMap((m) => {
    const [o, i] = model.unetParams.get(`${m}.weight`)!.shape;
    return [[`lora.${m}.a`, { data: new Float32Array(2 * rank * i), dims: [2, rank, i] as [number, number, number] }], [`lora.${m}.b`, { data: new Float32Array(2 * o * rank), dims: [2, o, rank] as [number, number, number] }]];
  }));
  const trainable = new Map(modules.flatMap((m) => {
    const [o, i] = model.unetParams.get(`${m}.weight`)!.shape;
    return [[`lora.${m}.a`, rng.randn(rank * i).map((v) => v * 0.1)], [`lora.${m}.b`, rng.randn(o * rank).map((v) => v * 0.1)]];
  }));
  const n = 2 * 4 * 8 * 8;
  const trainInputs = {
    batch: 2,
    attentionMask: new Float32Array(2 * 77).fill(1),
    encoderHiddenStates: unetRef.get('encoder_hidden_states')!.data,
    noisy: unetRef.get('sample')!.data,
    timesteps: Float32Array.of(999, 10),
    target: rng.randn(n),
    weights: Float32Array.of(0.5, 0.5),
  };
  const ids = model.tokenizer.encodeBatch(['a red fox', ''], { maxLength: 77, dtype: 'int64' }).inputIds as BigInt64Array;

  const runAll = async () => {
    const unet = await OrtUNetDenoiser.create(model, modules, { intraOpThreads: 1 });
    const eps = await unet.predict({ batch: 2, sample: unetRef.get('sample')!.data, timesteps: Float32Array.of(999, 10), encoderHiddenStates: unetRef.get('encoder_hidden_states')!.data, encoderMask: new Float32Array(2 * 77).fill(1), lora: zeroLora });
    await unet.release();
    const text = await OrtTextEncoder.create(model, { intraOpThreads: 1 });
    const hidden = await text.encode(ids, new Float32Array(2 * 77).fill(1), 2);
    await text.release();
    const vae = await OrtAutoencoderKl.create(vaeCfg, vaeParams, vaeCfg.sample_size, { intraOpThreads: 1 });
    const image = await vae.decode(vaeRef.get('decode_input')!.data, 1);
    await vae.release();
    const step = await DenoiserTrainingGraph.create({ unet: model.unetConfig, params: model.unetParams, seqLen: 77, sampleShape: [4, 8, 8], objective: 'weighted-mse', lora: { modules, rank }, intraOpThreads: 1 });
    const r = await step.step(trainInputs, trainable);
    await step.release();
    return { eps, hidden, image, loss: Float32Array.of(r.loss), grads: Float32Array.from([...r.grads.values()].flatMap((g) => Array.from(g))) };
  };
  const external = await withExternalData('always', runAll);
  const inProto = await withExternalData('never', runAll);
  for (const k of Object.keys(external) as (keyof typeof external)[]) {
    const err = relErr(external[k], inProto[k]);
    assert.ok(err <= 1e-6, `${k}: external vs in-protobuf relative error ${err}`);
  }
  // And right, not merely equal: diffusers' own UNet and VAE outputs.
  assert.ok(relErr(external.eps, unetRef.get('out_sample')!.data) <= 1e-4);
  assert.ok(relErr(external.image, vaeRef.get('decode_output')!.data) <= 1e-4);
});
