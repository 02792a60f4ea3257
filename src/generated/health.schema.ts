/* Generated from schemas/health.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Body of GET /health (liveness) and GET /ready (database reachable, migrations applied).
 */
export interface HealthStatus {
  status: 'ok' | 'ready' | 'not-ready';
  version?: string;
  database?: 'ok' | 'unreachable';
  migrations?: 'current' | 'pending' | 'unknown';
  reason?: string;
}
