import * as fsp from 'fs/promises';
import * as path from 'path';

/** The bundled base model shipped in the repository. */
export const BUNDLED_MODEL_NAME = 'emoji-base';

/** MODELS_DIR (default ./models)/emoji-base, when it exists. */
export async function resolveDefaultModelDir(modelsDir = process.env.MODELS_DIR ?? 'models'): Promise<string> {
  const dir = path.resolve(modelsDir, BUNDLED_MODEL_NAME);
  try {
    await fsp.access(path.join(dir, 'model_index.json'));
    return dir;
  } catch {
    throw new Error(`no bundled model at ${dir}: pass --model <diffusers folder> or train one with npm run pretrain`);
  }
}
