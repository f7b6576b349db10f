import { CliArgs } from './cli-args';
import { FineTuneHyperparameters, LORA_TARGETS, type LoraTargets } from '../engine';

const FLAGS = [
  ['steps', 'steps'],
  ['rank', 'rank'],
  ['lr', 'lr'],
  ['margin', 'margin'],
  ['batch', 'batchSize'],
  ['seed', 'seed'],
  ['ema-decay', 'emaDecay'],
  ['caption-dropout', 'captionDropout'],
  ['policy-refresh-steps', 'policyRefreshSteps'],
  ['sampling-steps', 'samplingSteps'],
  ['policy-guidance', 'policyGuidance'],
  ['anchor-weight', 'sftWeight'],
  ['preservation-weight', 'preservationWeight'],
  ['max-timestep-fraction', 'maxTimestepFraction'],
  ['min-snr-gamma', 'minSnrGamma'],
] as const;

/** Fine-tune hyperparameters given on the command line as `--<prefix><flag> value` (unset ones keep the defaults). */
export function readFineTuneHyperparameters(args: CliArgs, prefix = ''): Partial<FineTuneHyperparameters> {
  const hp: Partial<FineTuneHyperparameters> = {};
  for (const [flag, key] of FLAGS) {
    const v = args.optionalString(`${prefix}${flag}`);
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${prefix}${flag} must be a number`);
    hp[key] = n;
  }
  const targets = args.optionalString(`${prefix}targets`);
  if (targets !== undefined) {
    if (!(LORA_TARGETS as readonly string[]).includes(targets)) throw new Error(`--${prefix}targets must be one of ${LORA_TARGETS.join(', ')}`);
    hp.targets = targets as LoraTargets;
  }
  if (args.flag(`${prefix}mirror`)) hp.mirrorAugmentation = true;
  // Scale 1 per rank unless chosen otherwise: alpha follows rank.
  if (hp.rank !== undefined) hp.alpha = hp.rank;
  return hp;
}

