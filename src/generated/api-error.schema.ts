/* Generated from schemas/api-error.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Every error answer of the HTTP APIs, in osbuild-composer's cloud API Error shape. `href` points at the error's entry in the catalogue ({API_BASE}/errors/{id}); `id` and `code` are Kiln's error code; `operation_id` is the request id, also in Kiln's log line for the request.
 */
export interface Error {
  href: string;
  id: string;
  kind: 'Error';
  code: string;
  reason: string;
  operation_id: string;
  details?: {
    [k: string]: unknown;
  };
}
