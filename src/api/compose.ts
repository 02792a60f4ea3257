import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from '../db/index.js';
import type { QueueDefaults } from '../queue/index.js';
import type { KilnConfig } from '../generated/config.schema.js';
import type { ComposeList } from '../generated/compose-list.schema.js';
import { translateKickstart, MAX_KICKSTART } from '../blueprint/index.js';
import {
  API_BASE,
  createCompose,
  getComposeStatus,
  getComposeLogs,
  getComposeManifests,
  getComposeMetadata,
  getComposeOutputs,
  checkCompose,
  cancelCompose,
  listComposes,
  checkUploadOptionFields,
  checkCustomizationSources,
} from '../compose/index.js';
import { validator } from '../schemas.js';

export interface ComposeRoutesOptions {
  pool: Pool;
  kojiServers?: readonly string[];
  queueDefaults?: QueueDefaults;
  /** The config's [s3] (default bucket of upload_options). */
  s3?: KilnConfig['s3'];
}

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid', description: 'The compose id (from POST /compose).' } },
} as const;

const composeId = {
  type: 'object',
  additionalProperties: false,
  required: ['href', 'kind', 'id'],
  properties: { href: { type: 'string' }, kind: { const: 'ComposeId' }, id: { type: 'string', format: 'uuid' } },
} as const;

/** Largest page of GET /composes/. */
export const MAX_PAGE_SIZE = 100;

/** The cloud API subset Koji builder plugins call (reference/composer-koji.md §1), under API_BASE. */
export const composeRoutes: FastifyPluginAsync<ComposeRoutesOptions> = async (app, { pool, kojiServers, queueDefaults, s3 }) => {
  // compiled at start, not by the first compose (over HTTP or XML-RPC): with the whole blueprint
  // vocabulary in the request, compiling takes seconds
  for (const id of ['compose-request.schema', 'blueprint.schema', 'subscription.schema']) validator(id);
  app.post(
    '/compose',
    {
      schema: { body: { $ref: 'compose-request.schema#' }, response: { 201: composeId } },
      // other targets' upload options, upload_targets and both customizations and blueprint get a message saying why, not the schema's generic one
      preValidation: async (request) => {
        checkUploadOptionFields(request.body);
        checkCustomizationSources(request.body);
      },
    },
    async (request, reply) => {
      const { id } = await createCompose(pool, request.body, { kojiServers, queueDefaults, s3, owner: request.kilnPrincipal });
      request.log.info({ composeId: id }, 'compose created');
      return reply.code(201).send({ href: `${API_BASE}/compose`, kind: 'ComposeId', id });
    },
  );

  app.post(
    '/compose/check',
    {
      schema: {
        description: "Kiln's own: every check POST /compose makes, and what would be built (image types' canonical names, Koji file names, the customizations a blueprint gives); nothing is created. The Koji hub plugin asks this before it queues a task, so a request Kiln would refuse fails at the hub.",
        body: { $ref: 'compose-request.schema#' },
        response: { 200: { $ref: 'compose-check.schema#' } },
      },
      preValidation: async (request) => checkUploadOptionFields(request.body),
    },
    async (request) => checkCompose(request.body, { kojiServers, queueDefaults, s3 }),
  );

  app.post(
    '/kickstart',
    {
      schema: {
        description: "Kiln's own: what a kickstart (koji image-build's) becomes for an image Kiln builds, line by line. %include must be resolved by the caller.",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['kickstart'],
          properties: { kickstart: { type: 'string', maxLength: MAX_KICKSTART } },
        },
        response: { 200: { $ref: 'kickstart-translation.schema#' } },
      },
    },
    async (request) => translateKickstart((request.body as { kickstart: string }).kickstart),
  );

  app.get(
    '/composes/',
    {
      schema: {
        description: 'Composes, newest first, paged as the cloud API List: `page` counts from 0, `size` is the page size asked for (the answer\'s `size` is the number of items in it).',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            page: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 },
            size: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 20 },
          },
        },
        response: { 200: { $ref: 'compose-list.schema#' } },
      },
    },
    async (request): Promise<ComposeList> => {
      const { page, size } = request.query as { page: number; size: number };
      const { items, total } = await listComposes(pool, { limit: size, offset: page * size });
      return { href: `${API_BASE}/composes/`, kind: 'ComposeList', page, size: items.length, total, items };
    },
  );

  app.get('/composes/:id', { schema: { params: idParams, response: { 200: { $ref: 'compose-status.schema#' } } } }, async (request) =>
    getComposeStatus(pool, (request.params as { id: string }).id),
  );
  app.get('/composes/:id/logs', { schema: { params: idParams, response: { 200: { $ref: 'compose-logs.schema#' } } } }, async (request) =>
    getComposeLogs(pool, (request.params as { id: string }).id),
  );
  app.get('/composes/:id/manifests', { schema: { params: idParams, response: { 200: { $ref: 'compose-manifests.schema#' } } } }, async (request) =>
    getComposeManifests(pool, (request.params as { id: string }).id),
  );
  app.get('/composes/:id/metadata', { schema: { params: idParams, response: { 200: { $ref: 'compose-metadata.schema#' } } } }, async (request) =>
    getComposeMetadata(pool, (request.params as { id: string }).id),
  );
  app.get(
    '/composes/:id/outputs',
    {
      schema: {
        description: "Kiln's own: where each image's files went in the Koji hub's upload area; a scratch build's Koji task attaches them from there.",
        params: idParams,
        response: { 200: { $ref: 'compose-outputs.schema#' } },
      },
    },
    async (request) => getComposeOutputs(pool, (request.params as { id: string }).id),
  );
  app.post(
    '/composes/:id/cancel',
    {
      schema: {
        description: "Kiln's own (osbuild-composer has no cancel): cancels what has not finished; koji-finalize still runs and refunds the Koji build as CANCELED. Answers the compose's status, which stays pending until that refund is done; a compose that had already ended is left as it was.",
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
