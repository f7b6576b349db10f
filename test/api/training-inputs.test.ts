import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdaptersRepository } from '../../src/adapters/adapters.repository';
import type { RuntimeConfig } from '../../src/config/config.module';
import type { DatasetsRepository } from '../../src/datasets/datasets.repository';
import { decodeImageToChw, type DiffusionModel } from '../../src/engine';
import type { FineTuneEntity } from '../../src/fine-tunes/fine-tune.entity';
import { TrainingInputsLoader } from '../../src/fine-tunes/training-inputs.loader';
import type { StoragePort } from '../../src/storage/storage.port';
import { png } from '../support/images';

describe('training inputs', () => {
  it('reads the 32 px training copy for models up to its size and the upload itself for larger ones', async () => {
    const files = new Map<string, Buffer>([
      ['ds/img/train-32.png', await png(32, 32, { r: 200, g: 40, b: 40 }, 1)],
      ['ds/img/original.png', await png(96, 64, { r: 20, g: 140, b: 240 }, 2)],
    ]);
    const datasets = { listImages: async () => [{ trainingKey: 'ds/img/train-32.png', originalKey: 'ds/img/original.png', caption: 'a red fox' }] } as unknown as DatasetsRepository;
    const storage = { get: async (key: string) => files.get(key)! } as unknown as StoragePort;
    const loader = new TrainingInputsLoader(datasets, {} as AdaptersRepository, storage, {} as RuntimeConfig);
    const job = { tenantId: 't', datasetId: 'ds', stylePhrase: 'acme style' } as FineTuneEntity;
    const at = (imageSize: number) => ({ sampleSpace: { type: 'latent', imageSize } }) as DiffusionModel;

    const [small] = await loader.demonstrations(job, at(16));
    assert.deepEqual(small.image, await decodeImageToChw(files.get('ds/img/train-32.png')!, 16));
    assert.equal(small.caption, 'a red fox, acme style');
    assert.deepEqual((await loader.demonstrations(job, at(32)))[0].image, await decodeImageToChw(files.get('ds/img/train-32.png')!, 32));
    const [large] = await loader.demonstrations(job, at(64));
    assert.deepEqual(large.image, await decodeImageToChw(files.get('ds/img/original.png')!, 64), 'letterboxed from the 96×64 upload, not enlarged from the copy');
  });
});
