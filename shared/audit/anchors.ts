// Signed checkpoints of a trail, read back from where they were put (a file of notes, messages of
// a channel): record position → hash, verified with the public key in fleet.yaml.
import { readFileSync } from 'node:fs';
import { parseCheckpoints, readCheckpointsConfig, type SinkBlock } from './checkpoint.js';

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Checkpoint notes from one place: a file of notes, or one message of the approvals channel. */
export interface NoteSource {
  text: string;
  /** where the note starting at `line` of `text` is, for messages */
  at(line: number): string;
  /** the message was edited after it was posted, by whom */
  edited?: string;
}

export const fileNotes = (src: string): NoteSource => ({ text: read(src), at: (line) => `${src}:${line}` });

export type Anchors = { anchors?: Map<number, string>; problem?: string; count: number; others: number };

/**
 * Reads signed checkpoints for `instance` from notes, verified with the public key in fleet.yaml:
 * record position → hash. Any note that is not validly signed, an edited message, or two notes
 * that disagree, is a problem (exit 1): a checkpoint source someone tampered with proves nothing
 * either way.
 */
export function anchorsFrom(
  sources: NoteSource[],
  instance: string,
  fleetFile: string,
  sinks: readonly SinkBlock[] = [],
): Anchors {
  const config = readCheckpointsConfig(fleetFile, sinks);
  if (!config)
    return {
      problem: `${fleetFile} names no checkpoints key (checkpoints: key: {name, public}), so no checkpoint can be verified`,
      count: 0,
      others: 0,
    };
  const anchors = new Map<number, string>();
  let others = 0;
  for (const src of sources) {
    for (const n of parseCheckpoints(src.text, [config.key])) {
      // notes count per instance: another instance's note, or one that names none, says nothing of this trail
      if (n.instance !== instance) {
        others++;
        continue;
      }
      if (n.problem) return { problem: `${src.at(n.line)}: checkpoint ${n.problem}`, count: anchors.size, others };
      if (src.edited)
        return {
          problem: `${src.at(n.line)}: the checkpoint message was edited by ${src.edited} after it was posted`,
          count: anchors.size,
          others,
        };
      const seen = anchors.get(n.seq);
      if (seen !== undefined && seen !== n.hash)
        return {
          problem: `${src.at(n.line)}: two signed checkpoints of ${instance} disagree on record ${n.seq}: the trail was forked or rewritten after the first was signed`,
          count: anchors.size,
          others,
        };
      anchors.set(n.seq, n.hash);
    }
  }
  return { anchors, count: anchors.size, others };
}

/** Signed checkpoints of `instance` in a file of notes (see anchorsFrom). */
export function readAnchors(
  src: string,
  instance: string,
  fleetFile: string,
  sinks: readonly SinkBlock[] = [],
): Anchors {
  return anchorsFrom([fileNotes(src)], instance, fleetFile, sinks);
}
