/* Generated from schemas/builder-claim.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Body of POST /claim on a remote builder: the manager's id for the jobsite it opens. Every later request names it in its path.
 */
export interface BuilderClaim {
  id: string;
}
