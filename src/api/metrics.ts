import type { FastifyPluginAsync, FastifySchema } from 'fastify';
import type { KilnMetrics } from '../metrics/index.js';

/** GET /metrics: Prometheus text exposition of the service's registry. */
export const metricsRoutes: FastifyPluginAsync<{ metrics: KilnMetrics }> = async (app, { metrics }) => {
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', description: 'Queue depth, jobs, Koji calls and process metrics in the Prometheus text format.' } as FastifySchema },
    async (_request, reply) => {
      const text = await metrics.text();
      return reply.type(metrics.contentType).send(text);
    },
  );
};
