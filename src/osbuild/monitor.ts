/**
 * osbuild's `--monitor=JSONSeqMonitor` stream (RFC 7464): each record is 0x1e, one line of
 * JSON, 0x0a. json.dumps never emits a raw newline, so a record ends at LF or at the next RS,
 * whichever comes first. Bytes are buffered, not strings, so a UTF-8 character split across
 * chunks is decoded whole.
 */

const RS = 0x1e;
const LF = 0x0a;

export interface MonitorProgress {
  name?: string;
  total: number;
  done: number;
  progress?: MonitorProgress;
}

export interface MonitorContext {
  id: string;
  origin?: string;
  pipeline?: { name?: string; id?: string; stage?: { name?: string; id?: string } };
}

export interface MonitorRecord {
  message?: string;
  context?: MonitorContext;
  progress?: MonitorProgress;
  result?: { name?: string; id?: string; success?: boolean; output?: string; error?: unknown };
  options?: unknown;
  metadata?: unknown;
  duration?: number;
  timestamp?: number;
}

export class JsonSeqParser {
  #parts: Buffer[] = [];
  #invalid = 0;

  /** Records completed by this chunk, in order. */
  push(chunk: Buffer): MonitorRecord[] {
    const out: MonitorRecord[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b !== RS && b !== LF) continue;
      if (i > start) this.#parts.push(chunk.subarray(start, i));
      this.#flush(out);
      start = i + 1;
    }
    if (start < chunk.length) this.#parts.push(Buffer.from(chunk.subarray(start)));
    return out;
  }

  /** Any record left without its LF at end of stream. */
  end(): MonitorRecord[] {
    const out: MonitorRecord[] = [];
    this.#flush(out);
    return out;
  }

  /** Records that were not JSON objects (skipped, as RFC 7464 asks). */
  get invalid(): number {
    return this.#invalid;
  }

  #flush(out: MonitorRecord[]): void {
    if (this.#parts.length === 0) return;
    const text = Buffer.concat(this.#parts).toString('utf8').trim();
    this.#parts = [];
    if (!text) return;
    try {
      const v = JSON.parse(text);
      if (v && typeof v === 'object' && !Array.isArray(v)) out.push(v as MonitorRecord);
      else this.#invalid++;
    } catch {
      this.#invalid++;
    }
  }
}

export interface ProgressEvent {
  done: number;
  total: number;
  subprogress?: { done: number; total: number; name?: string };
  pipeline?: string;
  stage?: string;
  message?: string;
}

export interface InterpretedRecord {
  record: MonitorRecord;
  origin?: string;
  pipeline?: string;
  stage?: string;
  /** Set when the record changes the progress counters or the current pipeline/stage. */
  progress?: ProgressEvent;
  /** One line (or more) for the human-readable build log. */
  logText: string;
}

/**
 * Interprets records: caches contexts by id (osbuild sends a context in full only once),
 * tracks progress and renders log text.
 *
 * osbuild's context names the pipeline and the stage last set on it, so at "Starting pipeline
 * B" (and in any service log before B's first "Starting module") it still names the previous
 * pipeline's last stage. A stage is reported only once its own "Starting module" was seen.
 */
export class MonitorState {
  #contexts = new Map<string, MonitorContext>();
  #last = '';
  /** The pipeline osbuild announced last and the stage it started in it (undefined before its first). */
  #current: { pipelineId?: string; stageId?: string } | undefined;

  interpret(record: MonitorRecord): InterpretedRecord {
    let ctx = record.context;
    if (ctx?.id) {
      if (ctx.origin !== undefined || ctx.pipeline !== undefined) this.#contexts.set(ctx.id, ctx);
      else ctx = this.#contexts.get(ctx.id) ?? ctx;
    }
    const origin = ctx?.origin;
    const pipeline = ctx?.pipeline?.name || undefined;
    const ctxStage = ctx?.pipeline?.stage;
    if (origin === 'osbuild.monitor' && typeof record.message === 'string') {
      if (record.message.startsWith('Starting pipeline ')) this.#current = { pipelineId: ctx?.pipeline?.id };
      else if (record.message.startsWith('Starting module ')) this.#current = { pipelineId: ctx?.pipeline?.id, stageId: ctxStage?.id };
    }
    const started = !this.#current || (this.#current.stageId !== undefined && this.#current.stageId === ctxStage?.id);
    const stage = (started && ctxStage?.name) || undefined;
    const out: InterpretedRecord = { record, logText: renderLog(record, origin, pipeline) };
    if (origin) out.origin = origin;
    if (pipeline) out.pipeline = pipeline;
    if (stage) out.stage = stage;
    const p = record.progress;
    if (p && typeof p.done === 'number' && typeof p.total === 'number') {
      const ev: ProgressEvent = { done: p.done, total: p.total };
      const sub = p.progress;
      if (sub && typeof sub.done === 'number' && typeof sub.total === 'number') {
        ev.subprogress = { done: sub.done, total: sub.total, ...(sub.name ? { name: sub.name } : {}) };
      }
      if (pipeline) ev.pipeline = pipeline;
      if (stage) ev.stage = stage;
      const key = JSON.stringify(ev);
      if (key !== this.#last) {
        this.#last = key;
        if (origin === 'osbuild.monitor' && record.message) ev.message = record.message;
        out.progress = ev;
      }
    }
    return out;
  }
}

function renderLog(record: MonitorRecord, origin: string | undefined, pipeline: string | undefined): string {
  const msg = record.message ?? '';
  if (origin && origin.startsWith('stages/')) return msg.endsWith('\n') || msg === '' ? msg : `${msg}\n`;
  let line = pipeline ? `[${pipeline}] ${msg}` : msg;
  if (record.result) {
    const r = record.result;
    const status = r.success === false ? 'FAILED' : 'ok';
    const dur = typeof record.duration === 'number' ? ` in ${record.duration.toFixed(2)}s` : '';
    line += ` (${status}${dur})`;
  }
  return line ? `${line}\n` : '';
}
