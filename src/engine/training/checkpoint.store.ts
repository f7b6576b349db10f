import * as fsp from 'fs/promises';
import * as path from 'path';
import { readSafetensorsFile, serializeSafetensors, NamedTensor } from '../io/safetensors';
import { readJsonFileOrNull } from '../io/json-file';
import { discardTemporarySiblings, writeFileAtomic } from '../io/atomic-write';
import { AdamWState } from './adamw.optimizer';
import { RandomState } from '../schedulers';

export interface TrainingCheckpoint {
  step: number;
  params: Map<string, Float32Array>;
  ema: Map<string, Float32Array>;
  optimizer: AdamWState;
  rngState: RandomState;
  trainSeconds: number;
  /** Free-form state of the caller, stored as JSON. */
  extra?: Record<string, unknown>;
  /** Additional caller tensors (e.g. a replay buffer), stored with the state. */
  extraTensors?: Map<string, Float32Array>;
}

const MANIFEST = 'checkpoint.json';
const stateFileName = (step: number) => `state-${step}.safetensors`;
const STATE_FILE = /^state-\d+\.safetensors$/;

interface Manifest {
  step: number;
  file: string;
  adamStep: number;
  rngState: RandomState;
  trainSeconds: number;
  extra: Record<string, unknown>;
}

/**
 * Training state in one fp32 safetensors file plus a JSON manifest, both written atomically; the
 * manifest is written last and names the tensor file, so a crash mid-save leaves the previous
 * checkpoint intact.
 */
export class CheckpointStore {
  constructor(readonly dir: string) {}

  /** The step of the last complete checkpoint, 0 when there is none. */
  async savedStep(): Promise<number> {
    const step = (await this.readManifest())?.step;
    return Number.isInteger(step) ? step! : 0;
  }

  /**
   * Removes what a process killed in the middle of `save` left behind: temporary files, and a tensor
   * file whose manifest was never written. The last complete checkpoint stays. Call it only while no
   * other process saves to this folder.
   */
  async discardPartialWrites(): Promise<void> {
    await discardTemporarySiblings(this.dir);
    const kept = (await this.readManifest())?.file;
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) if (STATE_FILE.test(name) && name !== kept) await fsp.rm(path.join(this.dir, name), { force: true });
  }

  async save(ck: TrainingCheckpoint): Promise<void> {
    const tensors = new Map<string, NamedTensor>();
    const put = (prefix: string, m: Map<string, Float32Array>) => {
      for (const [k, v] of m) tensors.set(`${prefix}/${k}`, { shape: [v.length], data: v });
    };
    put('param', ck.params);
    put('ema', ck.ema);
    put('adam_m', ck.optimizer.m);
    put('adam_v', ck.optimizer.v);
    if (ck.extraTensors) put('extra', ck.extraTensors);
    const file = stateFileName(ck.step);
    await fsp.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(path.join(this.dir, file), serializeSafetensors(tensors, { dtype: 'F32' }));
    const manifest: Manifest = { step: ck.step, file, adamStep: ck.optimizer.step, rngState: ck.rngState, trainSeconds: ck.trainSeconds, extra: ck.extra ?? {} };
    const previous = await this.readManifest();
    await writeFileAtomic(path.join(this.dir, MANIFEST), JSON.stringify(manifest, null, 2));
    if (previous && previous.file !== file) await fsp.rm(path.join(this.dir, previous.file), { force: true });
  }

  private readManifest(): Promise<Manifest | null> {
    return readJsonFileOrNull(path.join(this.dir, MANIFEST));
  }

  async load(): Promise<TrainingCheckpoint | null> {
    const manifest = await this.readManifest();
    if (!manifest) return null;
    const st = await readSafetensorsFile(path.join(this.dir, manifest.file));
    const take = (prefix: string) => {
      const m = new Map<string, Float32Array>();
      for (const [k, v] of st.tensors) if (k.startsWith(`${prefix}/`)) m.set(k.slice(prefix.length + 1), v.data);
      return m;
    };
    return {
      step: manifest.step,
      params: take('param'),
      ema: take('ema'),
      optimizer: { step: manifest.adamStep, m: take('adam_m'), v: take('adam_v') },
      rngState: manifest.rngState,
      trainSeconds: manifest.trainSeconds,
      extra: manifest.extra,
      extraTensors: take('extra'),
    };
  }
}
