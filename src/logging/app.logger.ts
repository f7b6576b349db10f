import { ConsoleLogger, LogLevel } from '@nestjs/common';
import type { LogFormat } from '../config/app-config';

/** What the text format depends on in the stream logs go to. */
export interface LogStream {
  isTTY?: boolean;
}

interface JsonLogOptions {
  context: string;
  logLevel: LogLevel;
  writeStreamType?: 'stdout' | 'stderr';
  errorStack?: unknown;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * The logger of the API and the worker. `json`: one object per line for log collectors,
 * `{ time, level, context, message, pid, ...fields }`; a logged plain object's other properties are
 * the fields, an error's stack is `stack`.
 */
export class AppLogger extends ConsoleLogger {
  protected override printAsJson(message: unknown, options: JsonLogOptions): void {
    let fields: Record<string, unknown> = {};
    if (isPlainObject(message)) {
      const { message: text = '', ...rest } = message;
      [message, fields] = [text, rest];
    } else if (message instanceof Error) {
      [message, fields] = [message.message, { stack: message.stack }];
    }
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: options.logLevel, context: options.context || undefined, message, pid: process.pid };
    if (options.errorStack) entry.stack = options.errorStack;
    // A field never replaces the line's own time, level, context or message.
    for (const [key, value] of Object.entries(fields)) if (!(key in entry)) entry[key] = value;
    process[options.writeStreamType ?? 'stdout'].write(`${this.stringifyJsonLogObject(entry)}\n`);
  }
}

/**
 * Text is coloured only on a terminal (and never with NO_COLOR), so files and pipes get plain lines.
 * An empty level list means silent: Nest then gets no logger at all.
 */
export function createAppLogger(levels: LogLevel[], format: LogFormat, stdout: LogStream = process.stdout): AppLogger | false {
  if (levels.length === 0) return false;
  const colors = format === 'text' && stdout.isTTY === true && !process.env.NO_COLOR;
  return new AppLogger({ logLevels: levels, json: format === 'json', colors });
}
