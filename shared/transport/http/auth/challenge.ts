// What an MCP client is told when it must authenticate (MCP authorization, RFC 9728, RFC 6750):
// the Protected Resource Metadata of each instance, and the WWW-Authenticate challenge that
// points at it.
export const METADATA_PREFIX = '/.well-known/oauth-protected-resource';

export function metadataUrl(base: string, path: string): string {
  return `${base}${METADATA_PREFIX}${path}`;
}

export function challenge(
  base: string,
  path: string,
  error?: { code: 'invalid_token' | 'insufficient_scope'; description: string },
): string {
  const parts = [`resource_metadata="${metadataUrl(base, path)}"`];
  if (error) parts.push(`error="${error.code}"`, `error_description="${error.description.replace(/["\\\r\n]/g, ' ')}"`);
  return `Bearer ${parts.join(', ')}`;
}

export function resourceMetadata(resource: string, issuers: string[]): Record<string, unknown> {
  return {
    resource,
    ...(issuers.length ? { authorization_servers: issuers } : {}),
    bearer_methods_supported: ['header'],
    resource_name: `fleet ${resource.split('/').slice(-2).join('.')}`,
  };
}
