/** A one-line progress bar for long CLI work: step, loss, throughput and ETA. */
export interface ProgressSnapshot {
  step: number;
  totalSteps: number;
  samplesPerSecond: number;
  /** Unit of the rate (default "samples/s"). */
  rateUnit?: string;
  etaSeconds: number;
  values: Record<string, number>;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

export class ProgressBar {
  private lastPrint = 0;
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, private readonly width = 24) {}

  update(p: ProgressSnapshot, force = false): void {
    const now = Date.now();
    const tty = this.stream.isTTY;
    if (!force && now - this.lastPrint < (tty ? 200 : 10_000)) return;
    this.lastPrint = now;
    const frac = p.totalSteps > 0 ? Math.min(1, p.step / p.totalSteps) : 0;
    const filled = Math.round(frac * this.width);
    const bar = '█'.repeat(filled) + '░'.repeat(this.width - filled);
    const vals = Object.entries(p.values)
      .map(([k, v]) => `${k} ${Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4)}`)
      .join(' ');
    const line = `${bar} ${p.step}/${p.totalSteps} ${vals} ${p.samplesPerSecond.toFixed(p.samplesPerSecond < 10 ? 2 : 1)} ${p.rateUnit ?? 'samples/s'} ETA ${formatDuration(p.etaSeconds)}`;
    this.stream.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  done(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}

/** Exponentially smoothed rate and values for progress displays. */
export class RunningStats {
  private readonly smoothed = new Map<string, number>();
  constructor(private readonly alpha = 0.05) {}
  push(name: string, v: number): number {
    const prev = this.smoothed.get(name);
    const next = prev === undefined ? v : prev + this.alpha * (v - prev);
    this.smoothed.set(name, next);
    return next;
  }
  get(name: string): number {
    return this.smoothed.get(name) ?? NaN;
  }
}
