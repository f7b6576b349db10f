import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { resolveDefaultModelDir, loadDiffusionModel, createLoraAdapter, serializeLoraAdapter, Random } from '../engine';
import { loraModuleShapes } from '../fine-tunes/training-inputs.loader';
import { CliArgs, runCli } from './cli-args';

/**
 * npm run loadtest -- [--tenants 4] [--requests 32] [--steps 4] [--rank 4] [--model-dir DIR] [--timeout-s 300]
 *
 * Starts the API itself on 127.0.0.1 (temp DATA_DIR, no worker, no rate limits) twice — batching on
 * (GENERATION_BATCH_WINDOW_MS default) and off (window 0, one image per engine call) — creates M
 * tenants each with an imported random adapter, fires N concurrent generations across them, and
 * prints one JSON line: p50/p95 latency and images/s per mode. Loopback only; stops by itself.
 */

interface ModeResult {
  batchWindowMs: number;
  batchMaxImages: number;
  requests: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  wallS: number;
  imagesPerSecond: number;
  engineCalls: number | null;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function startApi(env: Record<string, string>, deadline: number): Promise<{ baseUrl: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(__dirname, '..', 'main.js')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'log', NO_COLOR: '1', EMBEDDED_WORKER: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the API did not start:\n${output}`));
    }, Math.max(1_000, Math.min(60_000, deadline - Date.now())));
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ baseUrl: `http://127.0.0.1:${match[1]}`, child });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the API exited with ${code}:\n${output}`));
    });
  });
}

async function stopApi(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function call(url: string, init: RequestInit & { json?: unknown }, signal: AbortSignal): Promise<any> {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const res = await fetch(url, { ...init, headers, body, signal });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return text.startsWith('{') ? JSON.parse(text) : text;
}

runCli(async () => {
  const args = new CliArgs();
  const tenants = Math.min(64, Math.max(1, args.number('tenants', 4)));
  const requests = Math.min(512, Math.max(1, args.number('requests', 32)));
  const steps = Math.min(50, Math.max(1, args.number('steps', 4)));
  const rank = Math.min(64, Math.max(1, args.number('rank', 4)));
  const timeoutS = Math.min(1800, Math.max(10, args.number('timeout-s', 300)));
  const modelDir = resolve(args.optionalString('model-dir') ?? (await resolveDefaultModelDir()));
  args.rejectUnknown();
  const deadline = Date.now() + timeoutS * 1000;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`load test stopped after --timeout-s ${timeoutS}`)), timeoutS * 1000);

  // One random adapter per tenant (non-zero B, so each visibly changes the base model's output).
  const model = await loadDiffusionModel(modelDir);
  const shapes = loraModuleShapes(model);
  const adapters = Array.from({ length: tenants }, (_, i) => {
    const adapter = createLoraAdapter(shapes, { rank, alpha: rank, seed: 1000 + i });
    const rng = new Random(2000 + i);
    for (const layer of adapter.layers.values()) for (let k = 0; k < layer.b.length; k++) layer.b[k] = rng.normal() * 0.05;
    return serializeLoraAdapter(adapter);
  });

  const modes = [
    { name: 'batched', env: {} as Record<string, string> },
    { name: 'unbatched', env: { GENERATION_BATCH_WINDOW_MS: '0', GENERATION_BATCH_MAX_IMAGES: '1' } },
  ];
  const results: Record<string, ModeResult> = {};
  for (const mode of modes) {
    const root = mkdtempSync(join(tmpdir(), 'saas-loadtest-'));
    const adminToken = randomBytes(24).toString('hex');
    const { baseUrl, child } = await startApi(
      {
        DATA_DIR: join(root, 'data'),
        MODELS_DIR: dirname(modelDir),
        ADMIN_TOKEN: adminToken,
        RATE_LIMIT_PER_MINUTE: '0',
        GENERATION_RATE_LIMIT_PER_MINUTE: '0',
        ...mode.env,
      },
      deadline,
    );
    try {
      const keys: { apiKey: string; adapterId: string }[] = [];
      for (let i = 0; i < tenants; i++) {
        const tenant = await call(`${baseUrl}/v1/tenants`, { method: 'POST', headers: { Authorization: `Bearer ${adminToken}` }, json: { name: `load-${i}` } }, abort.signal);
        const form = new FormData();
        form.set('name', `style-${i}`);
        form.set('file', new Blob([adapters[i]]), `style-${i}.safetensors`);
        const adapter = await call(`${baseUrl}/v1/adapters`, { method: 'POST', headers: { Authorization: `Bearer ${tenant.apiKey}` }, body: form }, abort.signal);
        keys.push({ apiKey: tenant.apiKey, adapterId: adapter.id });
      }
      const generate = (i: number) => {
        const { apiKey, adapterId } = keys[i % tenants];
        return call(
          `${baseUrl}/v1/generations`,
          { method: 'POST', headers: { Authorization: `Bearer ${apiKey}` }, json: { prompt: 'red heart', seed: i, steps, baseModel: basename(modelDir), adapters: [{ id: adapterId, scale: 1 }] } },
          abort.signal,
        );
      };
      // Warm-up (pipeline and adapters loaded), not measured.
      await Promise.all(keys.map((_, i) => generate(i)));
      const before = await call(`${baseUrl}/metrics`, {}, abort.signal);
      const started = performance.now();
      const latencies = await Promise.all(
        Array.from({ length: requests }, async (_, i) => {
          const t0 = performance.now();
          await generate(i);
          return performance.now() - t0;
        }),
      );
      const wallS = (performance.now() - started) / 1000;
      const after = await call(`${baseUrl}/metrics`, {}, abort.signal);
      const calls = (text: string) => Number(/^saas_generation_batch_requests_count (\S+)$/m.exec(text)?.[1] ?? NaN);
      const engineCalls = calls(after) - calls(before);
      results[mode.name] = {
        batchWindowMs: Number(mode.env.GENERATION_BATCH_WINDOW_MS ?? 15),
        batchMaxImages: Number(mode.env.GENERATION_BATCH_MAX_IMAGES ?? 16),
        requests,
        p50Ms: Math.round(percentile(latencies, 50)),
        p95Ms: Math.round(percentile(latencies, 95)),
        maxMs: Math.round(Math.max(...latencies)),
        wallS: Number(wallS.toFixed(2)),
        imagesPerSecond: Number((requests / wallS).toFixed(2)),
        engineCalls: Number.isFinite(engineCalls) ? engineCalls : null,
      };
    } finally {
      await stopApi(child);
      rmSync(root, { recursive: true, force: true });
    }
  }
  clearTimeout(timer);
  const { batched, unbatched } = results;
  console.log(
    JSON.stringify({
      model: basename(modelDir),
      tenants,
      requests,
      steps,
      rank,
      batched,
      unbatched,
      throughputRatio: Number((batched.imagesPerSecond / unbatched.imagesPerSecond).toFixed(2)),
      p95Ratio: Number((batched.p95Ms / unbatched.p95Ms).toFixed(2)),
    }),
  );
});
