/* Generated from schemas/builder-event.schema.json by `npm run gen:types`. Do not edit. */

/**
 * One line of GET /jobsite/{id}/progress (newline-delimited JSON). Progress events and heartbeats while osbuild runs; exactly one result or error line ends the stream.
 */
export type BuilderEvent =
  | {
      type: 'progress';
      done: number;
      total: number;
      subprogress?: {
        done: number;
        total: number;
        name?: string;
      };
      pipeline?: string;
      stage?: string;
      message?: string;
    }
  | {
      type: 'heartbeat';
      at: number;
    }
  | {
      type: 'result';
      success: boolean;
      exit_code: number | null;
      errors: {
        pipeline?: string;
        stage?: string;
        id?: string;
        message: string;
      }[];
      rpms: {}[];
      osbuild_result: {};
    }
  | {
      type: 'error';
      code: string;
      message: string;
      phase?: string;
    };
