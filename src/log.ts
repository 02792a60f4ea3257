import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * The root logger: one JSON line per event on stderr-free stdout. Units of work take a child
 * with their ids as fields (composeId, jobId, kojiTaskId), never interpolated into messages.
 */
export function createLogger(options: { level?: string; name?: string; stream?: DestinationStream } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    base: { name: options.name ?? 'kiln', pid: process.pid },
    redact: {
      // activation_key: composer's subscription option, wherever a job's arguments or a request carry it
      paths: ['*.password', '*.token', '*.secret', 'headers.authorization', '*.session_key', '*.activation_key', '*.*.activation_key', '*.*.*.activation_key', '*.*.*.*.activation_key'],
      censor: '[redacted]',
    },
  };
  return options.stream ? pino(opts, options.stream) : pino(opts);
}

/** A logger that drops everything; for library code called without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
