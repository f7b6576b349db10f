/** Minimal `--name value` / `--flag` parsing for the engine's command-line tools. */
export class CliArgs {
  private readonly values = new Map<string, string | true>();
  private readonly seen = new Set<string>();

  constructor(argv: string[] = process.argv.slice(2)) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (!a.startsWith('--')) throw new Error(`unexpected argument: ${a}`);
      const eq = a.indexOf('=');
      if (eq > 0) {
        this.values.set(a.slice(2, eq), a.slice(eq + 1));
      } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
        this.values.set(a.slice(2), argv[++i]);
      } else {
        this.values.set(a.slice(2), true);
      }
    }
  }

  string(name: string, fallback?: string): string {
    this.seen.add(name);
    const v = this.values.get(name);
    if (v === undefined || v === true) {
      if (fallback === undefined) throw new Error(`--${name} is required`);
      return fallback;
    }
    return v;
  }

  optionalString(name: string): string | undefined {
    this.seen.add(name);
    const v = this.values.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  number(name: string, fallback?: number): number {
    this.seen.add(name);
    const v = this.values.get(name);
    if (v === undefined) {
      if (fallback === undefined) throw new Error(`--${name} is required`);
      return fallback;
    }
    const n = Number(v);
    if (v === true || !Number.isFinite(n)) throw new Error(`--${name} must be a number`);
    return n;
  }

  optionalNumber(name: string): number | undefined {
    this.seen.add(name);
    return this.values.has(name) ? this.number(name) : undefined;
  }

  flag(name: string): boolean {
    this.seen.add(name);
    const v = this.values.get(name);
    return v === true || v === 'true' || v === '1';
  }

  /** Fails on options no reader asked for (typos). Call after reading all options. */
  rejectUnknown(): void {
    const unknown = [...this.values.keys()].filter((k) => !this.seen.has(k));
    if (unknown.length) throw new Error(`unknown option(s): ${unknown.map((k) => `--${k}`).join(', ')}`);
  }
}

/** Runs a CLI main function with uniform error reporting and exit codes. */
export function runCli(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      if (process.env.DEBUG && err instanceof Error) console.error(err.stack);
      process.exit(1);
    },
  );
}
