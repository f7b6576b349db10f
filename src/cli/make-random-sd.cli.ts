import * as path from 'path';
import { CliArgs, runCli } from './cli-args';
import { RandomSdSize, writeRandomSdFolder } from '../engine';

/**
 * npm run make-random-sd -- [--out .cache/sd15-random] [--seed 0] [--tiny] [--tokenizer DIR]
 * Writes a Stable Diffusion 1.5 diffusers folder with random fp16 weights (1.07 B parameters,
 * 2.1 GB; `--tiny`: the same layout at toy widths). The CLIP tokenizer files come from `--tokenizer`
 * (default: the tiny-sd fixture's, beside the repository).
 */
runCli(async () => {
  const args = new CliArgs();
  const tiny = args.flag('tiny');
  const out = args.string('out', tiny ? '.cache/sd15-random-tiny' : '.cache/sd15-random');
  const seed = args.number('seed', 0);
  const tokenizerDir = args.string('tokenizer', path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'tiny-sd', 'tokenizer'));
  args.rejectUnknown();
  const size: RandomSdSize = tiny ? 'tiny' : 'full';
  const started = Date.now();
  await writeRandomSdFolder(out, { seed, size, tokenizerDir });
  console.error(`wrote ${size} random SD-1.5 folder to ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
