import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointStore } from '../../src/engine';
import { Random } from '../../src/engine/schedulers';

function checkpointAt(step: number) {
  const params = new Map([['w', Float32Array.from([step, step + 1])]]);
  return { step, params, ema: params, optimizer: { step, m: params, v: params }, rngState: new Random(step).getState(), trainSeconds: 0 };
}

test('a checkpoint folder tells its step and sheds what a killed save left, keeping the last complete checkpoint', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'checkpoint-'));
  try {
    const store = new CheckpointStore(join(dir, 'checkpoint'));
    assert.equal(await store.savedStep(), 0, 'no checkpoint yet');
    await store.discardPartialWrites();
    await store.save(checkpointAt(3));
    await store.save(checkpointAt(6));
    assert.equal(await store.savedStep(), 6);
    // A save killed after writing its state file (no manifest yet) and one killed mid-write.
    await writeFile(join(store.location, 'state-9.safetensors'), 'orphan');
    await writeFile(join(store.location, '.state-9.safetensors.tmp-777-0a1b2c3d'), 'partial');
    await writeFile(join(store.location, '.checkpoint.json.tmp-777-deadbeef'), '{"step":');
    assert.equal(await store.savedStep(), 6, 'only a complete checkpoint counts');
    await store.discardPartialWrites();
    assert.deepEqual((await readdir(store.location)).sort(), ['checkpoint.json', 'state-6.safetensors']);
    const loaded = await store.load();
    assert.deepEqual([loaded?.step, [...loaded!.params.get('w')!]], [6, [6, 7]]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
