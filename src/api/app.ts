import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import type { Pool } from '../db/index.js';
import { errorHandler } from './errors.js';
import { healthRoutes } from './health.js';

export interface AppDeps {
  pool: Pool;
  log: Logger;
  /** Largest accepted request body (bytes). */
  bodyLimit?: number;
}

/** Builds the HTTP app without listening; tests drive it with inject() or a real socket. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'api' }) as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    ajv: { customOptions: { allErrors: false, removeAdditional: false, useDefaults: true, coerceTypes: false } },
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      href: '/api/image-builder-composer/v2/errors/KILN_NOT_FOUND',
      id: 'KILN_NOT_FOUND',
      kind: 'Error',
      code: 'KILN_NOT_FOUND',
      reason: `no route ${request.method} ${request.url.split('?')[0]}`,
    });
  });
  await app.register(healthRoutes, { pool: deps.pool });
  return app;
}
