import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from '../db/index.js';
import type { QueueDefaults } from '../queue/index.js';
import {
  API_BASE,
  createCompose,
  getComposeStatus,
  getComposeLogs,
  getComposeManifests,
  getComposeMetadata,
  cancelCompose,
  listComposes,
} from '../compose/index.js';

export interface ComposeRoutesOptions {
  pool: Pool;
  kojiServers?: readonly string[];
  queueDefaults?: QueueDefaults;
}

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

const composeId = {
  type: 'object',
  required: ['href', 'kind', 'id'],
  properties: { href: { type: 'string' }, kind: { const: 'ComposeId' }, id: { type: 'string' } },
} as const;

const openObject = { type: 'object', additionalProperties: true } as const;

/** The cloud API subset Koji builder plugins call (reference/composer-koji.md §1), under API_BASE. */
export const composeRoutes: FastifyPluginAsync<ComposeRoutesOptions> = async (app, { pool, kojiServers, queueDefaults }) => {
  app.post(
    '/compose',
    { schema: { body: { $ref: 'compose-request.schema#' }, response: { 201: composeId } } },
    async (request, reply) => {
      const { id } = await createCompose(pool, request.body, { kojiServers, queueDefaults, owner: request.kilnPrincipal });
      request.log.info({ composeId: id }, 'compose created');
      return reply.code(201).send({ href: `${API_BASE}/compose`, kind: 'ComposeId', id });
    },
  );

  app.get(
    '/composes/',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            offset: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 },
          },
        },
        response: { 200: openObject },
      },
    },
    async (request) => {
      const { limit, offset } = request.query as { limit: number; offset: number };
      const page = await listComposes(pool, { limit, offset });
      return { href: `${API_BASE}/composes/`, kind: 'ComposeList', limit, offset, total: page.total, items: page.items };
    },
  );

  app.get('/composes/:id', { schema: { params: idParams, response: { 200: { $ref: 'compose-status.schema#' } } } }, async (request) =>
    getComposeStatus(pool, (request.params as { id: string }).id),
  );
  app.get('/composes/:id/logs', { schema: { params: idParams, response: { 200: openObject } } }, async (request) =>
    getComposeLogs(pool, (request.params as { id: string }).id),
  );
  app.get('/composes/:id/manifests', { schema: { params: idParams, response: { 200: openObject } } }, async (request) =>
    getComposeManifests(pool, (request.params as { id: string }).id),
  );
  app.get('/composes/:id/metadata', { schema: { params: idParams, response: { 200: openObject } } }, async (request) =>
    getComposeMetadata(pool, (request.params as { id: string }).id),
  );
  app.post(
    '/composes/:id/cancel',
    {
      schema: {
        params: idParams,
        body: {
          anyOf: [
            { type: 'null' },
            { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 1000 } } },
          ],
        },
        response: { 200: { $ref: 'compose-status.schema#' } },
      },
    },
    async (request) => {
      const reason = (request.body as { reason?: string } | null)?.reason;
      const id = (request.params as { id: string }).id;
      request.log.info({ composeId: id, reason }, 'compose cancel requested');
      return cancelCompose(pool, id, reason ?? 'canceled by request');
    },
  );
};
