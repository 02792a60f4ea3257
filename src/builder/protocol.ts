/** What the builder and the manager share about the jobsite protocol (no server code). */

export type Phase = 'claim' | 'provision' | 'populate' | 'build' | 'progress' | 'export';

/** The first entry of the export tar: builder-export.schema (files, sizes, sha256). */
export const EXPORT_HEADER = 'kiln-export.json';
