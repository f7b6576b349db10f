import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { type LoraAdapter, parseLoraAdapter, createPipeline, encodeRgbPng, type TextToImagePipeline } from '../engine';
import { AdapterCache } from './adapter-cache';
import type { AcquireReply, GenerateReply, InferenceCall, InferenceReplyMessage, InferenceRequest, InferenceRequestMessage, ModelRef, StatsReply } from './inference.protocol';

/*
 * The inference thread: one ONNX Runtime pipeline per base model (loaded on first use, shared by all
 * tenants) and the parsed-adapter cache. ONNX Runtime's Node binding runs a session synchronously on
 * the calling thread, so running it here keeps the HTTP event loop free while images are sampled.
 */

/** A retrained model folder is picked up at most this long after its weights change. */
const MODEL_CHECK_MS = 5_000;

interface LoadedPipeline {
  version: number;
  checkedAt: number;
  pipeline: Promise<TextToImagePipeline>;
  active: number;
  retired: boolean;
}

class ModelLoadError extends Error {}

const settings = workerData as { adapterCacheSize: number; threads: number; memoryBudgetBytes?: number };
const adapters = new AdapterCache<LoraAdapter>(settings.adapterCacheSize);
const pipelines = new Map<string, LoadedPipeline>();

async function weightsVersion(model: ModelRef): Promise<number> {
  try {
    return (await stat(join(model.dir, 'unet', 'diffusion_pytorch_model.safetensors'))).mtimeMs;
  } catch {
    throw new ModelLoadError(`base model ${model.name} has no UNet weights`);
  }
}

function release(entry: LoadedPipeline): void {
  entry.pipeline.then((p) => p.release()).catch(() => undefined);
}

async function pipelineEntry(model: ModelRef): Promise<LoadedPipeline> {
  let entry = pipelines.get(model.dir);
  if (entry && Date.now() - entry.checkedAt < MODEL_CHECK_MS) return entry;
  const version = await weightsVersion(model);
  if (entry && entry.version === version) {
    entry.checkedAt = Date.now();
    return entry;
  }
  if (entry) {
    entry.retired = true;
    if (entry.active === 0) release(entry);
  }
  const pipeline = createPipeline(model.dir, { intraOpThreads: settings.threads, memoryBudgetBytes: settings.memoryBudgetBytes }).catch((error: Error) => {
    pipelines.delete(model.dir);
    throw new ModelLoadError(`base model ${model.name} could not be loaded: ${error.message}`);
  });
  entry = { version, checkedAt: Date.now(), pipeline, active: 0, retired: false };
  pipelines.set(model.dir, entry);
  return entry;
}

const adapterKey = (model: ModelRef, id: string) => `${model.dir}|${id}`;

async function acquire(model: ModelRef, wanted: { id: string; bytes?: Uint8Array }[]): Promise<AcquireReply> {
  const reply: AcquireReply = { missing: [], errors: {} };
  const needsParsing = wanted.filter((a) => a.bytes);
  const pipeline = needsParsing.length > 0 ? await (await pipelineEntry(model)).pipeline : undefined;
  for (const { id, bytes } of wanted) {
    const key = adapterKey(model, id);
    if (!bytes) {
      if (!adapters.acquire(key)) reply.missing.push(id);
      continue;
    }
    try {
      const parsed = parseLoraAdapter(bytes, { moduleShapes: pipeline!.moduleShapes });
      adapters.insertPinned(key, parsed.adapter);
    } catch (error) {
      reply.errors[id] = (error as Error).message;
    }
  }
  return reply;
}

async function generate(model: ModelRef, requests: InferenceRequest[]): Promise<GenerateReply> {
  const entry = await pipelineEntry(model);
  entry.active += 1;
  try {
    const pipeline = await entry.pipeline;
    const engineRequests = requests.map((r) => ({
      ...r,
      adapters: r.adapters.map((use) => {
        const adapter = adapters.peek(adapterKey(model, use.id));
        if (!adapter) throw new Error(`adapter ${use.id} was not acquired before generating`);
        return { adapter, scale: use.scale };
      }),
    }));
    // One engine call for the whole batch: every request keeps its own adapters, guidance and seed.
    const results = await pipeline.generate(engineRequests);
    const encoded = await Promise.all(
      results.map(async (result) => ({ ...result, images: await Promise.all(result.images.map((chw) => encodeRgbPng(chw, result.width, result.height))) })),
    );
    return { results: encoded };
  } finally {
    entry.active -= 1;
    if (entry.retired && entry.active === 0) release(entry);
  }
}

async function handle(call: InferenceCall): Promise<unknown> {
  switch (call.type) {
    case 'acquire':
      return acquire(call.model, call.adapters);
    case 'release':
      for (const id of call.ids) adapters.release(adapterKey(call.model, id));
      return null;
    case 'generate':
      return generate(call.model, call.requests);
    case 'stats':
      return { ...adapters.stats(), pipelines: [...pipelines.keys()] } satisfies StatsReply;
  }
}

parentPort!.on('message', (message: InferenceRequestMessage) => {
  handle(message.call).then(
    (value) => parentPort!.postMessage({ callId: message.callId, ok: true, value } satisfies InferenceReplyMessage),
    (error: Error) =>
      parentPort!.postMessage({
        callId: message.callId,
        ok: false,
        error: error?.message ?? String(error),
        kind: error instanceof ModelLoadError ? 'model' : undefined,
      } satisfies InferenceReplyMessage),
  );
});
