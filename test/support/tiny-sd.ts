import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { loadDiffusionModel, type DiffusionModel } from '../../src/engine/models/diffusion-model';

// Paths from dist/test/support: the repository is three levels up, its shared folder one more.
/** The tiny SD-1.5-shaped diffusers folder with diffusers' reference tensors (read-only: load it as it is). */
export const TINY_SD_DIR = path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'tiny-sd');
export const TINY_SD_REFS = path.join(TINY_SD_DIR, 'references');
/** The bundled pixel-space model as committed. */
export const BUNDLED_MODEL_DIR = path.resolve(__dirname, '..', '..', '..', 'models', 'emoji-base');

let loaded: Promise<DiffusionModel> | undefined;

/** The fixture loaded once per test file, failing clearly when the shared folder is missing. */
export function loadTinySd(): Promise<DiffusionModel> {
  assert.ok(existsSync(path.join(TINY_SD_DIR, 'model_index.json')), `the tiny-sd fixture is missing at ${TINY_SD_DIR}`);
  loaded ??= loadDiffusionModel(TINY_SD_DIR);
  return loaded;
}
