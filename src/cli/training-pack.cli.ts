import * as path from 'path';
import { CliArgs, runCli } from './cli-args';
import { loadDiffusionModel } from '../engine';
import { EMOJI_BASE_TRAINING, loadEmojiBaseTrainingSet } from '../lab/pretraining/emoji-base.recipe';
import { writeTrainingPack } from '../lab/pretraining/training-pack';

/**
 * npm run training-pack -- [--model models/emoji-base] [--out .cache/training-pack] [--variants 32] [--seed 0] [--limit N]
 *
 * Freezes the bundled model's training set (images, tokenized caption draws, noise schedule, recipe)
 * and reference outputs of `--model` into a folder that `scripts/cuda-pretrain.py` trains from on a
 * CUDA host. The tokenizer of `--model` encodes the captions, so the pack belongs to that vocabulary.
 */
runCli(async () => {
  const args = new CliArgs();
  const modelDir = path.resolve(args.string('model', path.join('models', 'emoji-base')));
  const out = path.resolve(args.string('out', path.join('.cache', 'training-pack')));
  const variants = args.number('variants', 32);
  const seed = args.number('seed', 0);
  const limit = args.optionalString('limit');
  args.rejectUnknown();
  if (!(Number.isInteger(variants) && variants >= 1)) throw new Error(`--variants must be a positive integer, got ${variants}`);

  const model = await loadDiffusionModel(modelDir);
  const { data, trainingDataJson } = await loadEmojiBaseTrainingSet(limit ? Number(limit) : undefined);
  const meta = await writeTrainingPack({ dir: out, model, modelDir, data, captionVariants: variants, recipe: { ...EMOJI_BASE_TRAINING }, trainingDataJson, seed });
  console.log(JSON.stringify({ out: path.relative(process.cwd(), out), images: meta.count, captionVariants: meta.captionVariants, referenceModel: meta.referenceModel }));
});
