import { KilnError } from '../errors.js';

export class ComposeNotFoundError extends KilnError {
  constructor(id: string) {
    super('KILN_NOT_FOUND', `compose ${id} not found`, { details: { composeId: id } });
  }
}
