/** The webhook events of a fine-tune, in the order a job sends them. */
export const FINE_TUNE_WEBHOOK_EVENTS = ['fine_tune.started', 'fine_tune.progress', 'fine_tune.succeeded', 'fine_tune.failed', 'fine_tune.canceled'] as const;
export type FineTuneWebhookEvent = (typeof FINE_TUNE_WEBHOOK_EVENTS)[number];

/** Progress events at these shares of the job's steps. */
export const PROGRESS_MILESTONES = [25, 50, 75];

/** Milestones crossed between two step counts (a resumed job starts from its checkpoint's step). */
export function milestonesBetween(fromStep: number, toStep: number, totalSteps: number): number[] {
  if (totalSteps <= 0) return [];
  return PROGRESS_MILESTONES.filter((m) => fromStep * 100 < m * totalSteps && toStep * 100 >= m * totalSteps);
}
