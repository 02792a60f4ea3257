/* Generated from schemas/builder-error.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Body of every error answer of the builder. phase names the phase the refused request was for; ended says whether the request ended the active jobsite.
 */
export interface BuilderError {
  code: string;
  message: string;
  phase?: string;
  jobsite?: string;
  ended: boolean;
}
