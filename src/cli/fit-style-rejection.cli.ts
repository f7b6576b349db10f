import * as fsp from 'fs/promises';
import * as path from 'path';
import { CliArgs, runCli } from './cli-args';
import { writeFileAtomic, readSafetensorsFile, writeSafetensorsFile, EmojiScorer, parseScorerFileConfig, scorerParamCount } from '../engine';
import { loadScorerDataset } from '../lab/scorer/scorer-data';
import { scorerModelCard, ScorerCardReport } from '../lab/scorer/scorer-model-card';
import { fitRejectionHead, REJECT_CLASS, rejectionMetrics } from '../lab/scorer/style-rejection';
import { evaluationSets } from '../lab/evaluation/style-evaluation';

/**
 * node dist/src/cli/fit-style-rejection.cli.js [--scorer models/emoji-scorer] [--steps 300] [--seed 0]
 *   [--validation-concepts 128]
 * Refits the scorer's style head with a rejection class `none` on frozen features (corrupted and
 * off-style images), leaving the evaluation's held-out concepts out of the fit and validating on them;
 * rewrites model.safetensors, config.json and the model card in place.
 */
runCli(async () => {
  const args = new CliArgs();
  const dir = path.resolve(args.string('scorer', path.join('models', 'emoji-scorer')));
  const steps = args.number('steps', 400);
  const seed = args.number('seed', 0);
  const validationConcepts = args.number('validation-concepts', 128);
  args.rejectUnknown();
  const started = Date.now();

  const json = JSON.parse(await fsp.readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const config = parseScorerFileConfig(json);
  const before = await EmojiScorer.load(dir, { intraOpThreads: 1, executionProvider: 'cpu' });
  const data = await loadScorerDataset();
  const heldOut = new Set(evaluationSets({ basePrompts: 0, heldOutPrompts: validationConcepts, brandImages: 48 }).heldOut.map((c) => c.id));
  const validation = Array.from({ length: data.count }, (_, i) => i).filter((i) => heldOut.has(data.conceptIds[data.conceptLabels[i]]));
  const metricsBefore = await rejectionMetrics(before, data, validation, seed + 1);

  const file = await readSafetensorsFile(path.join(dir, 'model.safetensors'));
  const { head, samples } = await fitRejectionHead(before, data, {
    seed,
    excludeConcepts: heldOut,
    steps,
    onProgress: (step, loss) => step % 50 === 0 && console.error(`step ${step}: loss ${loss.toFixed(4)}`),
  });
  await before.release();

  const params = new Map([...file.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
  params.set('reject_head.weight', { shape: [1, head.weight.length], data: head.weight });
  params.set('reject_head.bias', { shape: [1], data: Float32Array.of(head.bias) });
  const fileConfig = { ...json, reject_class: REJECT_CLASS };
  await writeSafetensorsFile(path.join(dir, 'model.safetensors'), params, { dtype: 'F16', metadata: { format: 'pt', model: 'emoji-scorer' } });
  await writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(fileConfig, null, 2)}\n`);
  const after = await EmojiScorer.load(dir, { intraOpThreads: 1, executionProvider: 'cpu' });
  const metricsAfter = await rejectionMetrics(after, data, validation, seed + 1);
  await after.release();

  const rejection = {
    description:
      `clean renderings and a lightly varied copy (shift, zoom, colour; their style), ` +
      `one corrupted copy of each (blur, noise, speckle, quantise or smear, strength uniform 0–1) and 600 off-style synthetic images (${REJECT_CLASS}); ` +
      `the renderings of the evaluation's first ${heldOut.size} held-out concepts are left out and validated on (corruptions at strength 0.5 of their Noto and Twemoji renderings)`,
    fit: { steps, seed, samples, optimiser: 'logistic regression on standardised inputs, full-batch Adam, lr 0.02, L2 1e-4, clean images weighted 2:1', seconds: Math.round((Date.now() - started) / 1000) },
    validation_images: validation.length,
    before: metricsBefore,
    after: metricsAfter,
  };
  const report = { ...fileConfig, parameters: scorerParamCount({ ...config, reject_head: true }), rejection };
  await writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(path.join(dir, 'README.md'), scorerModelCard(report as unknown as ScorerCardReport, config.concept_ids.length, data.count));
  console.error(JSON.stringify(rejection, null, 2));
});
