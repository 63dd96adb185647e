/** A grant is the manifest's entry for one tool: constraint values keyed by constraint name. */
export type Grant = Record<string, unknown>;
