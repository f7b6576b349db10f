import { parseSafetensors, serializeSafetensors, NamedTensor } from '../io/safetensors';
import { CheckpointFiles, folderCheckpointFiles } from './checkpoint-files';
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
  readonly files: CheckpointFiles;

  /** A local folder, or any CheckpointFiles (the API passes one over its object storage). */
  constructor(where: string | CheckpointFiles) {
    this.files = typeof where === 'string' ? folderCheckpointFiles(where) : where;
  }

  get location(): string {
    return this.files.location;
  }

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
    await this.files.discardTemporaries();
    const kept = (await this.readManifest())?.file;
    for (const name of await this.files.list()) if (STATE_FILE.test(name) && name !== kept) await this.files.remove(name);
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
    await this.files.write(file, serializeSafetensors(tensors, { dtype: 'F32' }));
    const manifest: Manifest = { step: ck.step, file, adamStep: ck.optimizer.step, rngState: ck.rngState, trainSeconds: ck.trainSeconds, extra: ck.extra ?? {} };
    const previous = await this.readManifest();
    await this.files.write(MANIFEST, Buffer.from(JSON.stringify(manifest, null, 2)));
    if (previous && previous.file !== file) await this.files.remove(previous.file);
  }

  private async readManifest(): Promise<Manifest | null> {
    const bytes = await this.files.read(MANIFEST);
    return bytes ? (JSON.parse(bytes.toString('utf8')) as Manifest) : null;
  }

  async load(): Promise<TrainingCheckpoint | null> {
    const manifest = await this.readManifest();
    if (!manifest) return null;
    const bytes = await this.files.read(manifest.file);
    if (!bytes) throw new Error(`checkpoint ${this.location}: ${manifest.file}, named by the manifest, is missing`);
    const st = parseSafetensors(bytes);
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
