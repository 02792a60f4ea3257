/* Generated from schemas/api-error-list.schema.json by `npm run gen:types`. Do not edit. */

/**
 * GET {API_BASE}/errors: the catalogue of error codes, paged as the cloud API's List (`page` from 0, `size` the number of items in this page).
 */
export interface ErrorList {
  href: string;
  kind: 'ErrorList';
  page: number;
  size: number;
  total: number;
  items: Error[];
}
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
