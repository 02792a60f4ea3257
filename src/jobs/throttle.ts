/**
 * Progress reports, at most one per interval, without losing the last: a report that comes
 * too soon replaces any waiting one and is sent when the interval is over. (osbuild finishes a
 * stage and starts the next in the same millisecond: dropping the second report would leave
 * the finished stage showing for as long as the next one runs.)
 */
export interface Coalescer<T> {
  /** Sends now when the interval since the last send is over (or force), else later. */
  report(value: T, force?: boolean): void;
  /** Drops a waiting report and sends nothing more. */
  stop(): void;
}

export function coalescing<T>(send: (value: T) => void, intervalMs: number): Coalescer<T> {
  let last = -Infinity;
  let waiting: { value: T } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const flush = () => {
    timer = undefined;
    if (!waiting || stopped) return;
    const { value } = waiting;
    waiting = undefined;
    last = Date.now();
    send(value);
  };
  return {
    report(value, force = false) {
      if (stopped) return;
      waiting = { value };
      if (force || Date.now() - last >= intervalMs) {
        if (timer) clearTimeout(timer);
        flush();
      } else {
        timer ??= setTimeout(flush, last + intervalMs - Date.now());
      }
    },
    stop() {
      stopped = true;
      waiting = undefined;
      if (timer) clearTimeout(timer);
    },
  };
}
