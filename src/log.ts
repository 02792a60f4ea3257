import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * The root logger: one JSON line per event on stderr-free stdout. Units of work take a child
 * with their ids as fields (composeId, jobId, kojiTaskId), never interpolated into messages.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    base: { name: options.name ?? 'kiln', pid: process.pid },
    redact: {
      paths: ['*.password', '*.token', '*.secret', 'headers.authorization', '*.session_key'],
      censor: '[redacted]',
    },
  };
  return pino(opts);
}

/** A logger that drops everything; for library code called without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
