// A trail as its readers open it (show, custody, review, promotion evidence, export): the one
// verified stream of ./verify.ts over a file or a store's lines, and the plain sentence a reader
// must print when the trail is missing, unreadable, torn or fails verification. Nothing unsealed,
// unchained or after a problem reaches a reader.
import { fileLines, verifiedRecords, type SealedRecord, type VerifyOptions, type VerifyResult } from './verify.js';

export class Trail implements AsyncIterable<SealedRecord> {
  /** the verdict, once the stream has been read to its end */
  verdict?: VerifyResult;
  /** why the trail could not be read at all (missing, unreadable) */
  unreadable?: string;
  /** there is no trail at all (an instance that never wrote one) */
  missing = false;

  constructor(
    readonly where: string,
    private readonly lines: () => AsyncIterable<string> | Iterable<string>,
    private readonly opts: VerifyOptions = {},
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<SealedRecord> {
    const it = verifiedRecords(this.lines(), this.opts);
    try {
      for (;;) {
        const n = await it.next();
        if (n.done) {
          this.verdict = n.value;
          return;
        }
        yield n.value;
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      this.missing = code === 'ENOENT';
      this.unreadable =
        code === 'ENOENT' ? 'there is no audit trail there' : `cannot read it (${code ?? (e as Error).message})`;
    }
  }

  /** Whether what was read is the whole, verified trail. */
  get whole(): boolean {
    return !this.unreadable && !!this.verdict?.ok;
  }

  /**
   * What a reader must say about the trail it read, one line each: undefined when it verified
   * whole with no torn line. Call after reading to the end.
   */
  warnings(): string[] {
    if (this.unreadable) return [`${this.where}: ${this.unreadable}: nothing from it is shown or counted`];
    const v = this.verdict;
    if (!v) return [`${this.where}: the trail was not read to its end: what is shown is not known to be all of it`];
    const out: string[] = [];
    if (!v.ok) {
      const p = v.problem!;
      out.push(
        p.kind === 'empty'
          ? `${this.where}: the trail holds no record: nothing to show or count`
          : `${this.where}:${p.line}: TAMPERED (${p.kind}): ${p.message}; only the ${v.records} record(s) before it are shown or counted, and even those are not evidence (fleet audit verify)`,
      );
    }
    if (v.torn)
      out.push(
        `${this.where}:${v.torn}: an interrupted write (the last line is not a sealed record): not shown or counted`,
      );
    return out;
  }
}

/** A trail file, read in chunks. */
export const fileTrail = (file: string, opts: VerifyOptions = {}): Trail =>
  new Trail(file, () => fileLines(file), opts);
