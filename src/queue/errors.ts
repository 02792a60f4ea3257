import { KilnError } from '../errors.js';

export class JobNotFoundError extends KilnError {
  constructor(id: string) {
    super('KILN_JOB_NOT_FOUND', `job ${id} not found`, { details: { jobId: id } });
  }
}

/** The token is not the job's current one: the job was requeued or finished meanwhile. */
export class StaleTokenError extends KilnError {
  constructor(id: string) {
    super('KILN_JOB_STALE_TOKEN', `job ${id}: token is not current (the job was requeued or already finished)`, {
      details: { jobId: id },
    });
  }
}

export class JobNotRunningError extends KilnError {
  constructor(id: string) {
    super('KILN_JOB_NOT_RUNNING', `job ${id} is not running`, { details: { jobId: id } });
  }
}

export class JobCanceledError extends KilnError {
  constructor(id: string, reason = 'canceled') {
    super('KILN_JOB_CANCELED', `job ${id} was canceled: ${reason}`, { details: { jobId: id } });
  }
}

export class InvalidDependencyError extends KilnError {
  constructor(field: string, message: string) {
    super('KILN_JOB_INVALID_DEPENDENCY', `${field}: ${message}`, { details: { field } });
  }
}
