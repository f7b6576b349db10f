import { Logger } from '@nestjs/common';

let armed: NodeJS.Timeout | undefined;

/**
 * Bounds a graceful shutdown: `timeoutMs` after the first call the process exits with code 1, whatever
 * is still pending (a Redis or database that stopped answering keeps a close waiting forever).
 * Work it held is not lost: a fine-tune returns to the queue when its lease runs out.
 */
export function armShutdownDeadline(timeoutMs: number): void {
  if (armed) return;
  armed = setTimeout(() => {
    new Logger('Shutdown').error(`Shutdown did not finish within ${timeoutMs} ms (SHUTDOWN_TIMEOUT_MS); exiting`);
    process.exit(1);
  }, timeoutMs);
  // Only a shutdown that is still running waits for it.
  armed.unref();
}
