import { describe } from 'node:test';

/**
 * `describe` for tests that need something from the environment (services, a Python with PyTorch).
 * Without it: in CI (CI=true) the suite fails naming the variables it lacks; elsewhere it is skipped
 * with a message saying what did not run.
 */
export function describeWithEnv(name: string, variables: readonly string[], provider: string, body: () => void): void {
  const missing = variables.filter((v) => !process.env[v]?.trim());
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const ci = process.env.CI === 'true' || process.env.CI === '1';
  if (ci) {
    describe(name, () => {
      throw new Error(`${missing.join(' and ')} not set: CI must provide ${provider} for "${name}"`);
    });
  } else {
    console.warn(`# not run (set ${missing.join(' and ')}): ${name}`);
    describe.skip(`${name} (needs ${missing.join(', ')})`, body);
  }
}
