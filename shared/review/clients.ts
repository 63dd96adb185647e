// Review of scopes/clients.yaml: `fleet verify` findings (schema, one environment per client, one
// credential per client, only instances that exist, recertification by review_by) and the `fleet diff` changes (a new client,
// or a client given a new instance or a new way to prove itself, is an escalation).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIENTS_FILE, parseClients } from '../manifest/clients.js';
import { ManifestError } from '../base/yaml.js';
import type { Manifest } from '../base/manifest.js';
import type { Finding } from './findings.js';
import { CLIENT_FIELDS, compareRates, judgeField, JWT_FIELDS, spanText } from './field-order.js';
import { parseRate } from '../base/rate.js';

/** The rate a client without one gets (fleet serve --http --client-rate's default). */
const DEFAULT_CLIENT_RATE = '20/second';
import { checkClientReviews, type FleetRules } from './rules.js';

/** `fleet verify` on the clients file; `fleet` (the fleet rules) adds each client's recertification. */
export function checkClients(dir: string, manifests: Manifest[], fleet?: FleetRules, now = Date.now()): Finding[] {
  const file = join(dir, CLIENTS_FILE);
  if (!existsSync(file)) return [];
  let clients;
  try {
    clients = parseClients(readFileSync(file, 'utf8'), file);
  } catch (e) {
    if (!(e instanceof ManifestError)) throw e;
    return e.problems.map((p) => ({ rule: 'clients', severity: 'error' as const, ...p, path: p.path || undefined }));
  }
  const known = new Set(manifests.map((m) => m.id));
  const findings: Finding[] = [];
  for (const [name, c] of Object.entries(clients.clients)) {
    c.instances.forEach((id, i) => {
      if (known.has(id)) return;
      const path = `clients.${name}.instances.${i}`;
      findings.push({
        rule: 'client-instance',
        severity: 'error',
        file,
        line: clients.line(path),
        path,
        message: `client ${name} lists ${id}, which no manifest in ${dir} defines (instances: ${[...known].join(', ')})`,
      });
    });
  }
  if (fleet) findings.push(...checkClientReviews(fleet, clients, now));
  return findings;
}

type Push = (cls: 'escalation' | 'reduction' | 'neutral', what: string, path: string, side: 'base' | 'head') => void;
const rec = (v: unknown): Record<string, any> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, any>) : {};

/** What changed in who may call which instance, between two clients.yaml documents. */
export function compareClientDocs(
  a: Record<string, any> | undefined,
  b: Record<string, any> | undefined,
  push: Push,
): void {
  const ca = rec(a?.clients);
  const cb = rec(b?.clients);
  for (const name of Object.keys(ca))
    if (!(name in cb)) push('reduction', `client ${name} removed: it may call nothing`, `clients.${name}`, 'base');
  for (const [name, raw] of Object.entries(cb)) {
    const now = rec(raw);
    const at = `clients.${name}`;
    const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
    if (!(name in ca)) {
      push(
        'escalation',
        `new client ${name} may call ${list(now.instances).join(', ') || 'nothing'} (${now.jwt ? `JWT from ${rec(now.jwt).issuer}` : 'bearer token'})`,
        at,
        'head',
      );
      continue;
    }
    const was = rec(ca[name]);
    const added = list(now.instances).filter((i) => !list(was.instances).includes(i));
    const removed = list(was.instances).filter((i) => !list(now.instances).includes(i));
    if (added.length) push('escalation', `client ${name} may now call ${added.join(', ')}`, `${at}.instances`, 'head');
    if (removed.length)
      push('reduction', `client ${name} may no longer call ${removed.join(', ')}`, `${at}.instances`, 'head');
    if (was.revoked !== undefined && now.revoked === undefined)
      push('escalation', `client ${name} is no longer revoked`, at, 'head');
    if (was.revoked === undefined && now.revoked !== undefined)
      push('reduction', `client ${name} revoked`, `${at}.revoked`, 'head');
    if (JSON.stringify(was.jwt) !== JSON.stringify(now.jwt)) {
      if (was.jwt && now.jwt) {
        // the same way of proving itself: each JWT field by its order (issuer, key set, subject: identities)
        for (const k of new Set([...Object.keys(rec(was.jwt)), ...Object.keys(rec(now.jwt))])) {
          for (const j of judgeField(`client ${name}: jwt.${k}`, JWT_FIELDS[k], rec(was.jwt)[k], rec(now.jwt)[k]) ?? [])
            push(j.class, j.what, `${at}.jwt.${k}`, 'head');
        }
      } else
        push(
          now.jwt ? 'escalation' : 'neutral',
          `client ${name} proves itself differently: ${now.jwt ? `JWT from ${rec(now.jwt).issuer} (keys ${rec(now.jwt).jwks}, subject ${rec(now.jwt).subject})` : 'bearer token'}`,
          now.jwt ? `${at}.jwt` : at,
          'head',
        );
    } else if (was.token !== now.token) push('neutral', `client ${name}'s token rotated`, `${at}.token`, 'head');
    for (const j of judgeField(`client ${name}: review_by`, CLIENT_FIELDS.review_by, was.review_by, now.review_by) ??
      [])
      push(j.class, j.what, `${at}.review_by`, 'head');
    if (was.rate !== now.rate) {
      // by the largest burst any window allows; unset is the server's default (--client-rate, 20/second)
      const ra = parseRate(was.rate ?? DEFAULT_CLIENT_RATE);
      const rb = parseRate(now.rate ?? DEFAULT_CLIENT_RATE);
      const c = ra && rb ? compareRates(ra, rb) : undefined;
      const what = `client ${name}'s request rate ${was.rate ?? '(default)'} → ${now.rate ?? '(default)'}`;
      if (!c || now.rate === undefined)
        push(
          'escalation',
          `${what}${now.rate === undefined ? ': the server default applies, whatever it is set to' : ''}`,
          `${at}.rate`,
          'head',
        );
      else if (c.wider)
        push(
          'escalation',
          `${what}: up to ${c.wider.to} requests ${spanText(c.wider.span)} where ${c.wider.from} were allowed`,
          `${at}.rate`,
          'head',
        );
      else push(c.narrower ? 'reduction' : 'neutral', what, `${at}.rate`, 'head');
    }
    // a key nothing above judges: review it by hand
    for (const k of new Set([...Object.keys(was), ...Object.keys(now)])) {
      if (!(k in CLIENT_FIELDS) && JSON.stringify(was[k]) !== JSON.stringify(now[k]))
        push(
          'escalation',
          `client ${name}: ${k} changed, a field with no stated order (shared/review/field-order.ts); review it by hand`,
          `${at}.${k}`,
          'head',
        );
    }
  }
}
