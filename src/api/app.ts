import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import type { Pool } from '../db/index.js';
import type { KilnConfig } from '../generated/config.schema.js';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { schemaDir, ajv, coercingAjvInstance } from '../schemas.js';
import { errorHandler, errorCatalogueRoutes, notFoundHandler } from './errors.js';
import { healthRoutes } from './health.js';
import { composeRoutes } from './compose.js';
import { API_BASE } from '../compose/index.js';
import type { QueueDefaults, QueueListener } from '../queue/index.js';
import { workerApiRoutes, WORKER_API_BASE } from './worker-api.js';
import { xmlrpcRoutes } from './xmlrpc.js';
import { registerOpenApi } from './openapi.js';
import { authHook, type AuthOptions } from './auth.js';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { createMetrics, type KilnMetrics } from '../metrics/index.js';
import { metricsRoutes } from './metrics.js';
import { statusPageRoutes, type LocalWorkerInfo } from './status-page.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the caller authenticated as (certificate or token name), when auth is on. */
    kilnPrincipal?: string;
  }
}

export interface AppDeps {
  pool: Pool;
  log: Logger;
  /** Largest accepted request body (bytes). */
  bodyLimit?: number;
  /** Koji hubs composes may name (none given: any). */
  kojiServers?: readonly string[];
  /** The config's [s3]: the default bucket for upload_options without one (absent: none). */
  s3?: KilnConfig['s3'];
  /** Retries and heartbeat timeout for the jobs of new composes (config `queue`). */
  queueDefaults?: QueueDefaults;
  /** Who may call the API (src/api/auth.ts); absent: the API is open (loopback only, see checkListenSecurity). */
  auth?: AuthOptions;
  /** Serve HTTPS with these options (certificate, key, client CA). */
  https?: HttpsServerOptions;
  /** The process's queue listener: the worker API's long-polls wait on it (absent: they poll). */
  listener?: QueueListener;
  /** Worker API long-polls: longest wait granted, and the backstop poll interval while waiting. */
  workerApi?: { maxWaitSeconds?: number; pollIntervalMs?: number };
  /** The registry GET /metrics serves (absent: one with the queue metrics only, no process metrics). */
  metrics?: KilnMetrics;
  /** The workers of this process, for GET /status. */
  localWorkers?: () => readonly LocalWorkerInfo[];
}

/** Builds the HTTP app without listening; tests drive it with inject() or a real socket. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'api' }) as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    ...(deps.https ? { https: deps.https } : {}),
  }) as unknown as FastifyInstance;
  // every schema in schemas/ is addressable by its $id from route schemas
  for (const file of readdirSync(schemaDir).filter((f) => f.endsWith('.json')).sort()) {
    app.addSchema(JSON.parse(readFileSync(path.join(schemaDir, file), 'utf8')));
  }
  // bodies are validated strictly (no coercion, no stripping of unknown fields); query strings
  // and path parameters arrive as text and are coerced to their schema types
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'querystring' || httpPart === 'params' ? coercingAjvInstance().compile(schema) : ajv().compile(schema),
  );
  app.setErrorHandler(errorHandler);
  // the JSON APIs take JSON only (osbuild-composer: 415); fastify would otherwise hand text/plain
  // bodies to the schema as strings. /RPC2 registers its own XML parsers in its scope.
  app.removeContentTypeParser('text/plain');
  app.setNotFoundHandler(notFoundHandler);
  if (deps.auth) app.addHook('onRequest', authHook(deps.auth));
  // before any route: the OpenAPI document is built from the routes registered after this
  registerOpenApi(app);
  await app.register(healthRoutes, { pool: deps.pool });
  await app.register(composeRoutes, { prefix: API_BASE, pool: deps.pool, kojiServers: deps.kojiServers, queueDefaults: deps.queueDefaults, s3: deps.s3 });
  await app.register(errorCatalogueRoutes);
  await app.register(workerApiRoutes, { prefix: WORKER_API_BASE, pool: deps.pool, listener: deps.listener, ...deps.workerApi });
  // /metrics and /status are behind the API's auth like the compose API: they show compose
  // names, error reasons, worker names and hub URLs, which GET /composes/ guards too. Prometheus
  // scrapes with a bearer token or client certificate; on loopback without auth both are open.
  const metrics = deps.metrics ?? createMetrics({ db: deps.pool, defaultMetrics: false, observeKoji: false });
  await app.register(metricsRoutes, { metrics });
  await app.register(statusPageRoutes, { pool: deps.pool, localWorkers: deps.localWorkers });
  await app.register(xmlrpcRoutes, { pool: deps.pool, kojiServers: deps.kojiServers, queueDefaults: deps.queueDefaults, s3: deps.s3, bodyLimit: deps.bodyLimit });
  return app;
}
