// `fleet audit verify|show [FILE | --instance ID]`, `fleet audit import FILE --instance ID`,
// `fleet audit export --instance ID` and `fleet audit keygen`. A trail is a JSONL file or the trail
// of an instance in the state store fleet.yaml names (PostgreSQL), read as a stream of lines.
import { once } from 'node:events';
import {
  closeSync,
  constants,
  createWriteStream,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { parseDocument } from 'yaml';
import { generateCheckpointKey, readCheckpointsConfig } from '../../../shared/audit/checkpoint.js';
import { streamCalls, type CallRow } from '../../../shared/audit/read.js';
import { fileLines, verifyFile, verifyLines, type VerifyResult } from '../../../shared/audit/verify.js';
import { Trail } from '../../../shared/audit/trail.js';
import { open as openRecord } from '../../../shared/audit/chain.js';
import { actorFilter, sinceTime } from '../../../shared/audit/filter.js';
import type { StateStore } from '../../../shared/state/store.js';
import { instanceStore } from '../compose/store.js';
import { anchorsFrom, fileNotes, type NoteSource } from '../../../shared/audit/anchors.js';
import { resolveCredential } from '../../../shared/connector/credentials.js';
import type { CheckpointSinkKind } from '../../../shared/connector/extensions.js';
import { fleetExtensions } from '../compose/extensions.js';
import { cell, counted, fitColumns, terminalOf, type Colour, type Term } from '../../../shared/base/terminal.js';

/**
 * Refuses a file that is not an audit trail at all (a README, a config), rather than calling it
 * tampered or showing no calls: one sealed record among its first 64 KiB is enough, so a trail
 * whose first lines were altered is still judged by verify as TAMPERED, and so is an emptied one.
 */
function assertTrail(file: string): void {
  let head = '';
  try {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      head = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return; // unreadable: the caller says so
  }
  // an empty file is a trail that lost its records (verify judges that, e.g. against checkpoints)
  if (head.trim() && !head.split('\n').some((l) => openRecord(l) !== undefined)) {
    throw new Error(
      `${file} is not a fleet audit trail: none of its lines is a sealed audit record (trails are .fleet/audit/<connector>.<env>.jsonl)`,
    );
  }
}

/** A source named for a checkpoint sink (`slack`): the checkpoints it posted, read back as its block says. */
async function postedNotes(
  kind: CheckpointSinkKind,
  scopes: string,
  fleetFile: string,
  env: NodeJS.ProcessEnv,
): Promise<NoteSource[]> {
  const config = readCheckpointsConfig(fleetFile, fleetExtensions().checkpointSinks);
  const block = config?.[kind.name];
  if (block === undefined)
    throw new Error(
      `${fleetFile} has no checkpoints.${kind.name} block: checkpoints are not posted to ${kind.place}, and no reader credential is named`,
    );
  const notes = await kind.read({ scopes, block, env, resolve: (ref) => resolveCredential(ref, env) });
  return notes.map((n) => ({ text: n.text, at: () => n.where, ...(n.edited ? { edited: n.edited } : {}) }));
}

/** The instance a trail file's name suggests (<connector>.<env>.jsonl): only for a file with no record. */
const nameOf = (file: string): string | undefined => /^([a-z0-9-]+\.[a-z0-9-]+)\.jsonl$/.exec(basename(file))?.[1];

/** The instance the first sealed record among a file's first 64 KiB names (verify then holds the whole trail to it). */
function firstInstance(file: string): string | undefined {
  try {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      const head = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
      for (const l of head.split('\n')) {
        const inst = openRecord(l)?.record.instance;
        if (typeof inst === 'string' && inst) return inst;
      }
    } finally {
      closeSync(fd);
    }
  } catch {
    /* unreadable: verify says so */
  }
  return undefined;
}

export interface VerifyOpts {
  /** the instance the trail is asserted to be (default: the one its records name) */
  instance?: string;
  /** where signed checkpoints are that the trail must reach and agree with: files of notes, or `slack` (the approvals channel) */
  checkpoints?: string | string[];
  /** where `slack` finds its reader credential and FLEET_APPROVALS_SLACK_URL (default: this process's) */
  env?: NodeJS.ProcessEnv;
  /** the scopes folder whose fleet.yaml names the checkpoint key (and the state store) */
  scopes?: string;
}

/** A file's size in bytes for a progress line's percentage, or undefined. */
function sizeOf(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
}

/** The trail of --instance in the state store fleet.yaml names, when no file is given. */
function storeOf(o: { instance?: string; scopes?: string }): StateStore {
  if (!o.instance)
    throw new Error(
      "name an audit file, or --instance <connector>.<env> to read that instance's trail from its state store",
    );
  return instanceStore(o.scopes ?? 'scopes', o.instance);
}

/**
 * Prints the verdict; returns the exit code: 0 intact, 1 tampered (or not this instance's, or
 * contradicted by a checkpoint), 2 cannot be checked (unreadable, no instance).
 */
export async function auditVerify(
  fileArg: string | undefined,
  o: VerifyOpts = {},
  out: (s: string) => void = console.log,
  term: Term = terminalOf(),
): Promise<number> {
  const store = fileArg ? undefined : storeOf(o);
  try {
    return await verifyTrail(fileArg, store, o, out, term);
  } finally {
    await store?.close();
  }
}

async function verifyTrail(
  fileArg: string | undefined,
  store: StateStore | undefined,
  o: VerifyOpts,
  out: (s: string) => void,
  term: Term,
): Promise<number> {
  if (fileArg) assertTrail(fileArg);
  const file = fileArg ?? store!.audit.where;
  // whose trail it is comes from its records (a file's name says nothing); --instance asserts it
  const asserted = o.instance;
  // (a file with no record at all has only its name to go by: checkpoints can still show what it lost)
  let instance = asserted ?? (fileArg ? (firstInstance(fileArg) ?? nameOf(fileArg)) : undefined);
  if (!store) {
    try {
      if (!statSync(file).isFile()) throw Object.assign(new Error(), { code: 'not a regular file' });
    } catch (e) {
      out(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return 2;
    }
  }
  let anchors: Map<number, string> | undefined;
  const srcs = [o.checkpoints ?? []].flat();
  if (srcs.length && !instance) {
    out(
      `${file}: cannot tell which instance this trail belongs to (no record names one); name it with --instance <connector>.<env>`,
    );
    return 2;
  }
  if (srcs.length && instance) {
    const scopes = o.scopes ?? 'scopes';
    const fleetFile = join(scopes, 'fleet.yaml');
    const sources: NoteSource[] = [];
    for (const src of srcs) {
      try {
        const sink = fleetExtensions().checkpointSinks.find((k) => k.name === src);
        sources.push(...(sink ? await postedNotes(sink, scopes, fleetFile, o.env ?? process.env) : [fileNotes(src)]));
      } catch (e) {
        out(`${src}: cannot read checkpoints: ${(e as Error).message}`);
        return 2;
      }
    }
    let a;
    try {
      a = anchorsFrom(sources, instance, fleetFile, fleetExtensions().checkpointSinks);
    } catch (e) {
      out(`${srcs.join(', ')}: cannot read checkpoints: ${(e as Error).message}`);
      return 2;
    }
    if (a.problem) {
      out(`${file}: ${term.paint('TAMPERED (checkpoints)', 'red')}: ${a.problem}`);
      return 1;
    }
    if (!a.count) {
      out(
        `${file}: ${srcs.join(' and ')} hold${srcs.length > 1 ? '' : 's'} no checkpoint of ${instance}${a.others ? ` (${a.others} of other instances)` : ''}; nothing to compare the trail with`,
      );
      return 2;
    }
    anchors = a.anchors;
  }
  let r: VerifyResult;
  try {
    const p = term.progress(`verifying ${instance ?? file}`, store ? undefined : sizeOf(file));
    try {
      r = store
        ? await verifyLines(counted(store.audit.lines(), p), { instance: asserted ?? instance, anchors })
        : await verifyFile(file, { instance: asserted ?? instance, anchors, onLine: (n) => p.tick(n) });
    } finally {
      p.done();
    }
    instance = asserted ?? r.instance ?? instance ?? '?';
  } catch (e) {
    out(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return 2;
  }
  const cps = r.checkpoints
    ? `; ${r.checkpoints.checked} checkpoint(s) matched, the newest at record ${r.checkpoints.newest}`
    : '';
  if (!r.ok) {
    out(
      `${file}:${r.problem!.line}: ${term.paint(`TAMPERED (${r.problem!.kind})`, 'red')}: ${r.problem!.message} (${r.records} records of ${instance} verified before it, ${r.lines} lines read)`,
    );
    return 1;
  }
  if (r.torn)
    out(
      `${file}:${r.torn}: ${term.paint('interrupted write', 'yellow')} (the last line was cut off mid-write; the next append seals a record of it)`,
    );
  out(
    `${file}: ${term.paint('chain intact', 'green')}, ${r.records} records of ${instance}; last record ${r.last!.seq}, hash ${r.last!.hash}${cps}${r.checkpoints ? '' : '; without checkpoints a cut tail or a re-chained trail cannot be told apart (--checkpoints)'}`,
  );
  return 0;
}

export interface ShowFilter {
  tool?: string;
  actor?: string;
  decision?: string;
  since?: string;
  json?: boolean;
  /** one chain-of-custody row per call instead of the decision table */
  custody?: boolean;
}

/**
 * The chain of custody of one call: who called (client), for whom (actor) and how that was
 * proven, where it was asked (thread), who approved and when, who executed it with which
 * credential reference, under which manifest, and what came of it. Field names are stable
 * (docs/security.md).
 */
export interface CustodyRow {
  time: string;
  call: string;
  instance: string;
  tool: string;
  client: string;
  actor: string;
  proof: string;
  thread: string;
  approver: string;
  approved_at: string;
  executor: string;
  credential: string;
  manifest: string;
  result: string;
  /** the MCP task the call ran as, or - */
  task: string;
}

export function custodyOf(r: CallRow): CustodyRow {
  const result =
    r.decision === 'deny' || r.decision === 'pending'
      ? `${r.decision === 'deny' ? 'denied' : 'pending'} (${r.rule ?? '?'})`
      : r.decision === 'replay'
        ? 'replayed'
        : r.outcome === 'unknown'
          ? 'UNKNOWN (no outcome recorded)'
          : r.outcome === 'error'
            ? `error ${r.error ?? ''}`.trim()
            : r.outcome;
  return {
    time: r.time,
    call: r.call,
    instance: r.instance,
    tool: r.tool,
    client: r.client_id ?? '-',
    actor: r.actor ?? '-',
    proof: r.proof ?? '-',
    thread: r.thread ?? '-',
    approver: r.approver ?? '-',
    approved_at: r.approved_at ?? '-',
    executor: r.executor ?? '-',
    credential: r.credential ?? '-',
    manifest: r.manifest ?? '-',
    result,
    task: r.task ?? '-',
  };
}

/** The custody columns: header, width, narrowest width on a terminal, rank to leave out on a narrow one, value. */
const CUSTODY: [string, number, number, number | undefined, (r: CustodyRow) => string][] = [
  ['time', 19, 19, undefined, (r) => r.time.replace('T', ' ').slice(0, 19)],
  ['client', 16, 14, 3, (r) => r.client],
  ['actor', 14, 10, undefined, (r) => r.actor],
  ['proof', 14, 13, 5, (r) => r.proof],
  ['thread', 24, 14, 4, (r) => r.thread],
  [
    'approver',
    22,
    11,
    undefined,
    (r) => (r.approver === '-' ? '-' : `${r.approver} at ${r.approved_at.replace('T', ' ').slice(11, 19)}`),
  ],
  ['executor', 24, 14, 2, (r) => (r.executor === '-' ? '-' : `${r.executor} (${r.credential})`)],
  ['manifest', 12, 12, 7, (r) => r.manifest.slice(0, 12)],
  ['result', 24, 10, undefined, (r) => r.result],
  ['task', 36, 8, 6, (r) => r.task],
  ['tool', 34, 20, undefined, (r) => `${r.instance}.${r.tool}`],
];

/** The colour a call's result is shown in on a terminal. */
function resultColour(r: CustodyRow): Colour | undefined {
  return r.result === 'ok'
    ? 'green'
    : r.result.startsWith('pending')
      ? 'yellow'
      : r.result === 'replayed'
        ? undefined
        : 'red';
}

/**
 * One custody row as a line of columns. Without `width` (output not a terminal) the columns are
 * fixed and a longer value pushes the rest right, never cut; on a terminal they fit its width:
 * the least needed columns left out first, then longer values cut with "…".
 */
export function custodyLine(r: CustodyRow | undefined, width?: number, paint: Term['paint'] = (t) => t): string {
  if (!width)
    return CUSTODY.map(([h, w, , , get], i) => (r ? get(r) : h).padEnd(i === CUSTODY.length - 1 ? 0 : w))
      .join('  ')
      .trimEnd();
  const ws = fitColumns(
    CUSTODY.map(([, w, min, drop]) => ({ width: w, min, ...(drop === undefined ? {} : { drop }) })),
    width,
  );
  return CUSTODY.flatMap(([h, , , , get], i) => {
    if (!ws[i]) return [];
    const text = cell(r ? get(r) : h, ws[i]!);
    const colour = r && h === 'result' ? resultColour(r) : undefined;
    return [colour ? paint(text, colour) : r ? text : paint(text, 'bold')];
  })
    .join('  ')
    .trimEnd();
}

const COLUMNS: [string, number, (r: CallRow) => string][] = [
  ['time (UTC)', 19, (r) => r.time.replace('T', ' ').slice(0, 19)],
  ['actor', 14, (r) => r.actor ?? '-'],
  ['thread', 18, (r) => r.thread ?? '-'],
  ['tool', 20, (r) => r.tool],
  ['decision', 8, (r) => r.decision],
  ['outcome', 29, (r) => (r.outcome === 'unknown' ? 'UNKNOWN (no outcome recorded)' : r.outcome)],
  [
    'detail',
    80,
    (r) =>
      [
        r.note,
        r.approval,
        r.decision === 'allow' || r.rule === undefined ? '' : `rule ${r.rule}`,
        r.error ? `error ${r.error}` : '',
        r.duration_ms !== undefined ? `${r.duration_ms} ms` : '',
      ]
        .filter(Boolean)
        .join('; '),
  ],
];
const tableLine = (vals: string[]) =>
  vals
    .map((v, i) => {
      const w = COLUMNS[i]![1];
      // the last column (detail: rules, evidence cited) is shown whole
      return (i < COLUMNS.length - 1 && v.length > w ? `${v.slice(0, w - 1)}…` : v).padEnd(w);
    })
    .join('  ')
    .trimEnd();

/**
 * Streams the calls of a trail's verified records (memory holds only calls still open): a table
 * with fixed columns, --custody rows, or JSON lines, in the order calls ended (those that never
 * did last). What the trail could not vouch for (missing, torn, failing verification) is said on
 * `warn`, and then the exit code is 1.
 */
export async function auditShow(
  file: string | undefined,
  f: ShowFilter & { instance?: string; scopes?: string },
  out: (s: string) => void = console.log,
  warn: (s: string) => void = console.error,
  term: Term = terminalOf(),
): Promise<number> {
  if (file) {
    read1(file);
    assertTrail(file);
  }
  const store = file ? undefined : storeOf(f);
  const since = f.since ? sinceTime(f.since) : undefined;
  const actor = f.actor !== undefined ? actorFilter(f.actor) : undefined;
  // progress only when the rows go elsewhere than the terminal: there, they show it themselves
  const p = term.width ? undefined : term.progress(`reading ${f.instance ?? file}`, file ? sizeOf(file) : undefined);
  const lines = () => (store ? store.audit.lines() : fileLines(file!));
  const trail = new Trail(store ? store.audit.where : file!, () => (p ? counted(lines(), p) : lines()), {
    instance: f.instance,
  });
  let shown = 0;
  // an --actor that no call of the trail names is an error (a near miss of someone), not an empty table
  let actorSeen = false;
  const actors = new Set<string>();
  try {
    for await (const r of streamCalls(trail)) {
      if (actor && !actorSeen) {
        actorSeen = r.actor === actor;
        if (r.actor && actors.size < 50) actors.add(r.actor);
      }
      if (
        (f.tool && r.tool !== f.tool) ||
        (actor && r.actor !== actor) ||
        (f.decision && r.decision !== f.decision) ||
        (since !== undefined && Date.parse(r.time) < since)
      )
        continue;
      shown++;
      if (f.custody) {
        if (f.json) out(JSON.stringify(custodyOf(r)));
        else {
          if (shown === 1) out(custodyLine(undefined, term.width, term.paint));
          out(custodyLine(custodyOf(r), term.width, term.paint));
        }
        continue;
      }
      if (!f.json && shown === 1) out(tableLine(COLUMNS.map(([h]) => h)));
      out(f.json ? JSON.stringify(r) : tableLine(COLUMNS.map(([, , get]) => get(r))));
    }
  } finally {
    await store?.close();
  }
  if (actor && !actorSeen) {
    throw new Error(
      `--actor ${actor} names nobody this trail knows: no call was made for them (actors of this trail: ${[...actors].sort().join(', ') || 'none'})`,
    );
  }
  if (!shown && !f.json) out('(no matching calls)');
  const warnings = trail.warnings();
  for (const w of warnings) warn(term.paintErr(w, 'yellow'));
  return trail.whole ? 0 : 1;
}

/** Fails early, with a clear line, on a file that cannot be read. */
function read1(file: string): void {
  try {
    closeSync(openSync(file, 'r'));
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Moves an embedded trail into the instance's PostgreSQL store, chain intact; running it again adds nothing. */
export async function auditImport(
  file: string,
  o: { instance?: string; scopes?: string },
  out: (s: string) => void = console.log,
  term: Term = terminalOf(),
): Promise<number> {
  read1(file);
  const state = storeOf(o);
  try {
    if (!state.audit.importLines)
      throw new Error(
        `the ${state.engine} engine keeps its trail in a file already: name a PostgreSQL store: in fleet.yaml to import into`,
      );
    const n = await state.audit.importLines(counted(fileLines(file), term.progress(`importing ${file}`, sizeOf(file))));
    const head = await state.audit.head();
    out(
      `imported ${n} records from ${file} into ${state.audit.where}; its chain now ends at record ${head.seq}, hash ${head.hash}`,
    );
    return 0;
  } catch (e) {
    throw new Error(`import of ${file} refused: ${(e as Error).message}`);
  } finally {
    await state.close();
  }
}

/** Writes an instance's trail as JSONL, exactly as sealed: `fleet audit verify` checks the result. */
export async function auditExport(
  o: { instance?: string; scopes?: string; out?: string },
  out: (s: string) => void = console.log,
  warn: (s: string) => void = console.error,
  term: Term = terminalOf(),
): Promise<number> {
  const state = storeOf(o);
  const sink = o.out ? createWriteStream(o.out, { mode: 0o600 }) : process.stdout;
  // only what verifies is exported: a torn last line and anything after a problem stay behind, said below
  // progress only when the records go to a file: on stdout they would share the terminal with it
  const p = o.out ? term.progress(`exporting ${o.instance}`) : undefined;
  const trail = new Trail(state.audit.where, () => (p ? counted(state.audit.lines(), p) : state.audit.lines()), {
    instance: o.instance,
  });
  let n = 0;
  try {
    for await (const r of trail) {
      n++;
      if (!sink.write(`${r.text}\n`)) await once(sink, 'drain');
    }
  } finally {
    await state.close();
    if (o.out) {
      (sink as ReturnType<typeof createWriteStream>).end();
      await once(sink, 'finish');
    }
  }
  if (o.out) out(`exported ${n} records of ${state.audit.where} to ${o.out}`);
  for (const w of trail.warnings()) warn(term.paintErr(w.replace('shown or counted', 'exported'), 'yellow'));
  return trail.whole ? 0 : 1;
}

const real = (p: string) => {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
};

/**
 * Writes a new checkpoint signing key (never over an existing file, never into the scopes folder)
 * and prints its fleet.yaml block; with `scopes`, also writes the public half into that folder's
 * fleet.yaml (`checkpoints.key`, the rest of the file untouched), to be reviewed and committed.
 */
export function auditKeygen(
  outFile: string,
  name: string,
  out: (s: string) => void = console.log,
  scopes?: string,
): number {
  if (!/^[A-Za-z0-9._+-]{1,64}$/.test(name)) {
    out(`--name ${JSON.stringify(name)}: a key name is 1 to 64 letters, digits and . _ + -`);
    return 2;
  }
  const fleetFile = scopes ? join(scopes, 'fleet.yaml') : undefined;
  let text = '';
  let keyRange: [number, number] | undefined;
  if (scopes) {
    const keyDir = real(dirname(resolve(outFile)));
    const scopesDir = real(scopes);
    if (keyDir === scopesDir || keyDir.startsWith(`${scopesDir}${sep}`)) {
      out(
        `${outFile} is inside the scopes folder ${scopes}: the private key would be committed with the manifests; write it where only the instances can read it`,
      );
      return 2;
    }
    if (existsSync(fleetFile!)) text = readFileSync(fleetFile!, 'utf8');
    const doc = parseDocument(text);
    if (doc.errors.length) {
      out(`${fleetFile}: cannot read it: ${doc.errors[0]!.message}`);
      return 2;
    }
    const node = doc.getIn(['checkpoints', 'key'], true) as { range?: [number, number, number] } | undefined;
    if (node?.range) keyRange = [node.range[0], node.range[1]];
    else if (doc.has('checkpoints')) {
      out(
        `${fleetFile} has a checkpoints: block without key:; add the key by hand (printed below) or remove the block`,
      );
      return 2;
    }
  }
  const key = generateCheckpointKey();
  let fd: number;
  try {
    fd = openSync(outFile, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    out(
      `cannot create ${outFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (keygen never overwrites a key)`,
    );
    return 2;
  }
  try {
    writeSync(fd, key.privatePem);
  } finally {
    closeSync(fd);
  }
  const flow = `{ name: ${name}, public: ${key.public} }`;
  out(
    `# the private key is in ${outFile}: give it to the instances as FLEET_CHECKPOINT_KEY, never beside the audit trail`,
  );
  if (fleetFile) {
    const next = keyRange
      ? `${text.slice(0, keyRange[0])}${flow}${text.slice(keyRange[1])}`
      : `${text.replace(/\n*$/, text ? '\n\n' : '')}# Signed checkpoints of every audit trail (fleet audit keygen): verified with this public key.\ncheckpoints:\n  key: ${flow}\n  every: 1000\n  interval: 10m\n`;
    writeFileSync(fleetFile, next);
    out(
      `# its public half is now checkpoints.key in ${fleetFile}: review and commit it (checkpoints are verified with it)`,
    );
    return 0;
  }
  out('# scopes/fleet.yaml:');
  out('checkpoints:');
  out(`  key: ${flow}`);
  out('  every: 1000');
  out('  interval: 10m');
  return 0;
}
