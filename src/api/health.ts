import type { FastifyPluginAsync } from 'fastify';
import { loadSchema } from '../schemas.js';
import { migrationStatus } from '../db/migrate.js';
import type { Pool } from '../db/index.js';
import type { HealthStatus } from '../generated/health.schema.js';
import { KILN_VERSION } from '../version.js';

export const healthRoutes: FastifyPluginAsync<{ pool: Pool }> = async (app, { pool }) => {
  const response = { 200: loadSchema('health.schema'), 503: loadSchema('health.schema') };

  app.get('/health', { schema: { response: { 200: response[200] } } }, async (): Promise<HealthStatus> => ({
    status: 'ok',
    version: KILN_VERSION,
  }));

  app.get('/ready', { schema: { response } }, async (_req, reply): Promise<HealthStatus> => {
    let status;
    try {
      status = await migrationStatus(pool);
    } catch (err) {
      reply.code(503);
      return { status: 'not-ready', database: 'unreachable', reason: (err as Error).message };
    }
    if (status.pending.length || status.unknown.length) {
      reply.code(503);
      return {
        status: 'not-ready',
        database: 'ok',
        migrations: status.pending.length ? 'pending' : 'unknown',
        reason: status.pending.length ? `pending migrations: ${status.pending.join(', ')}` : `unknown migrations: ${status.unknown.join(', ')}`,
      };
    }
    return { status: 'ready', database: 'ok', migrations: 'current' };
  });
};
