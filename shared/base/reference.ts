// A credential reference: where a secret is (env:NAME, or <scheme>:<path> of a scheme a connector
// contributes), never its value. Manifests, fleet.yaml's `store:` and a connector's own blocks all
// take one; the exact grammar of each scheme is the manifest schema's (manifest/schema.ts).
/** `env:NAME`: a variable of the process's environment. */
export const ENV_REF = 'env:[A-Za-z_][A-Za-z0-9_]*';

/**
 * A credential reference of any scheme: env:NAME, or <scheme>:<path> of a scheme a connector
 * contributes (whose own grammar the manifest schema, built with the connectors, checks).
 */
export const CREDENTIAL = new RegExp(`^(${ENV_REF}|[a-z][a-z0-9-]*:[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*)$`);
