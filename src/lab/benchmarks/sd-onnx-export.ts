/**
 * The ONNX graphs of an SD-class folder, written for a check on another host (scripts/onnx-cuda-check.py):
 * the UNet with per-sample LoRA inputs, the VAE decoder and a LoRA training step graph, each with
 * external data, sample inputs and the outputs ONNX Runtime's CPU provider computes from the same
 * files here. Inputs and outputs are float32 safetensors; manifest.json lists everything.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadDiffusionModel } from '../../engine/models/diffusion-model';
import { writeSafetensorsFile, type NamedTensor } from '../../engine/io/safetensors';
import { vaeScaleFactor } from '../../engine/models/autoencoder-kl.model';
import { loraTargetModules, LoraTargets } from '../../engine/models/lora-targets';
import { moduleShapeOfWeight } from '../../engine/lora/lora-adapter';
import { exportUNetOnnx } from '../../engine/pipeline/onnx-executors';
import { vaeDecoderOnnxModel } from '../../engine/pipeline/vae-executors';
import { buildTrainingGraph } from '../../engine/training/denoiser-training-graph';
import { writeOnnxModel } from '../../engine/onnx/onnx-external-data';
import type { OnnxModel } from '../../engine/onnx/onnx-model';
import { createSession, EXTERNAL_DATA_AUTO_BYTES, run } from '../../engine/onnx/ort-session';
import { Random } from '../../engine/schedulers';
import { loadVae, randomTrainingLora } from './sd-benchmark';

export interface ExportOptions {
  modelDir: string;
  outDir: string;
  loraTargets: LoraTargets;
  loraRank: number;
  intraOpThreads: number;
  log: (m: string) => void;
}

interface ManifestEntry {
  name: string;
  model: string;
  data: string | null;
  inputs: string;
  outputs: string;
  cpuSeconds: number;
  description: string;
}

/** Writes one graph, runs it on the CPU provider from the written file and stores inputs and outputs beside it. */
async function exportGraph(o: ExportOptions, name: string, model: OnnxModel, feeds: Record<string, NamedTensor>, description: string): Promise<ManifestEntry> {
  const written = writeOnnxModel(model, path.join(o.outDir, `${name}.onnx`));
  o.log(`  ${name}.onnx: ${written.externalTensors} tensors (${(written.externalBytes / 2 ** 20).toFixed(0)} MiB) in ${path.basename(written.dataPath ?? '-')}`);
  const large = written.externalBytes > EXTERNAL_DATA_AUTO_BYTES; // as DenoiserTrainingGraph does for SD-size graphs
  const { session } = await createSession(written.modelPath, { executionProvider: 'cpu', intraOpThreads: o.intraOpThreads, memoryArena: !large });
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, { data: v.data, dims: v.shape }]));
  const t0 = process.hrtime.bigint();
  const out = await run(session, ortFeeds);
  const cpuSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await session.release();
  const outputs: Record<string, NamedTensor> = {};
  for (const [k, v] of Object.entries(out)) outputs[k] = { data: v.data as Float32Array, shape: [...v.dims] };
  await writeSafetensorsFile(path.join(o.outDir, `${name}.inputs.safetensors`), feeds);
  await writeSafetensorsFile(path.join(o.outDir, `${name}.outputs.safetensors`), outputs);
  return { name, model: `${name}.onnx`, data: written.dataPath && path.basename(written.dataPath), inputs: `${name}.inputs.safetensors`, outputs: `${name}.outputs.safetensors`, cpuSeconds: Math.round(cpuSeconds * 1000) / 1000, description };
}

export async function exportSdGraphs(o: ExportOptions): Promise<{ manifest: string; graphs: ManifestEntry[] }> {
  fs.mkdirSync(o.outDir, { recursive: true });
  const model = await loadDiffusionModel(o.modelDir);
  const vae = await loadVae(o.modelDir);
  const [c, h, w] = [model.unetConfig.in_channels, model.unetConfig.sample_size, model.unetConfig.sample_size];
  const l = model.maxLength;
  const d = model.unetConfig.cross_attention_dim;
  const modules = loraTargetModules(model.unetConfig, o.loraTargets);
  const rng = new Random(2024);
  const t = (data: Float32Array, shape: number[]): NamedTensor => ({ data, shape });
  const graphs: ManifestEntry[] = [];

  // UNet, batch 2 (a guided step), per-sample LoRA factors: row 0 carries an adapter, row 1 none.
  const unetFeeds: Record<string, NamedTensor> = {
    sample: t(rng.randn(2 * c * h * w), [2, c, h, w]),
    timestep: t(Float32Array.of(501, 501), [2]),
    encoder_hidden_states: t(rng.randn(2 * l * d), [2, l, d]),
    encoder_attention_mask: t(new Float32Array(2 * l).fill(1), [2, l]),
  };
  for (const [name, value] of randomTrainingLora(model, modules, o.loraRank, 5)) {
    const [o1, i1] = moduleShapeOfWeight(model.unetParams.get(`${name.slice(5, -2)}.weight`)!.shape);
    const perRow = name.endsWith('.a') ? [o.loraRank, i1] : [o1, o.loraRank];
    const both = new Float32Array(2 * value.length); // row 1 stays zero: the base model
    both.set(value, 0);
    unetFeeds[name] = t(both, [2, ...perRow]);
  }
  o.log(`UNet with LoRA inputs on ${modules.length} ${o.loraTargets} modules`);
  graphs.push(await exportGraph(o, 'unet', exportUNetOnnx(model, modules), unetFeeds, `UNet2DConditionModel, batch 2, per-sample LoRA (rank ${o.loraRank}) on ${o.loraTargets}`));

  const imageSize = h * vaeScaleFactor(vae.config);
  o.log('VAE decoder');
  const vaeFeeds = { latents: t(rng.randn(c * h * w).map((v) => v / vae.config.scaling_factor), [1, c, h, w]) };
  graphs.push(await exportGraph(o, 'vae-decoder', vaeDecoderOnnxModel(vae.config, vae.params, imageSize), vaeFeeds, `AutoencoderKL decoder, ${h}×${w} latent → ${imageSize}² image`));

  o.log('LoRA training step');
  const { model: trainModel } = buildTrainingGraph({ unet: model.unetConfig, params: model.unetParams, seqLen: l, sampleShape: [c, h, w], objective: 'weighted-mse', lora: { modules, rank: o.loraRank } });
  const trainFeeds: Record<string, NamedTensor> = {
    attention_mask: t(new Float32Array(l).fill(1), [1, l]),
    encoder_hidden_states: t(rng.randn(l * d), [1, l, d]),
    noisy: t(rng.randn(c * h * w), [1, c, h, w]),
    timestep: t(Float32Array.of(500), [1]),
    target: t(rng.randn(c * h * w), [1, c, h, w]),
    weights: t(Float32Array.of(1), [1]),
  };
  for (const [name, value] of randomTrainingLora(model, modules, o.loraRank, 6)) {
    trainFeeds[name] = t(value, name.endsWith('.a') ? [1, o.loraRank, value.length / o.loraRank] : [1, value.length / o.loraRank, o.loraRank]);
  }
  graphs.push(await exportGraph(o, 'lora-training', trainModel, trainFeeds, `LoRA training step (loss and LoRA gradients), batch 1, rank ${o.loraRank} on ${o.loraTargets}`));

  const manifest = path.join(o.outDir, 'manifest.json');
  fs.writeFileSync(manifest, `${JSON.stringify({ model: path.resolve(o.modelDir), createdBy: 'npm run bench -- --export', graphs }, null, 2)}\n`);
  return { manifest, graphs };
}
